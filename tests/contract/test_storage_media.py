"""The Storage contract of uploaded pictures (:class:`server.store.base.MediaStorage`) and of the
writes that attach them ("Attaching pictures" in server/store/base.py): uploads waiting under
their owner's bound, attached to a post, an announcement, a message or a profile in order and
with their alt text, refused (and nothing written) when not the author's waiting upload of the
right kind, detached when what holds them goes, and collected once expired; profile updates.

Run against every adapter by the ``storage`` fixture (tests/contract/conftest.py); nothing here
may depend on which database is behind the port. All times are explicit ``now_ms`` values.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import replace

import pytest
from pymongo import AsyncMongoClient

from server.ids import IdGenerator
from server.store.base import (
    MediaRecord,
    MediaUnavailable,
    MediaVariantRecord,
    MessageRecord,
    NonceTaken,
    NotFound,
    PostRecord,
    Storage,
    TooManyUploads,
    UserRecord,
)
from server.store.mongo import SCHEMA_VERSION
from tests.contract.storage_helpers import (
    DAY,
    MINUTE,
    NOW,
    SMALLEST_ID,
    UNKNOWN_ID,
    befriend,
    direct_conversation,
    join,
    make_community,
    make_user,
    stored,
)
from tests.support.mongo import MongoBackend, storage_class

_ids = IdGenerator()

#: How long an upload waits to be attached in these tests.
TTL = DAY


def upload(
    owner: UserRecord,
    *,
    kind: str = "post",
    now_ms: int = NOW,
    ttl_ms: int = TTL,
    animated: bool = False,
    colour: str = "#7a8b9c",
) -> MediaRecord:
    """A fresh upload of ``owner``, waiting until ``now_ms + ttl_ms``. Its two variants have
    distinct digests, and each upload digests of its own."""
    media_id = _ids.new(now_ms)
    return MediaRecord(
        id=media_id,
        owner_id=owner.id,
        kind=kind,
        width=1600,
        height=1200,
        placeholder=colour,
        animated=animated,
        display=MediaVariantRecord(
            digest=f"d-{media_id}", content_type="image/webp", width=1280, height=960, size=183_211
        ),
        thumbnail=MediaVariantRecord(
            digest=f"t-{media_id}", content_type="image/webp", width=320, height=240, size=9_870
        ),
        created_ms=now_ms,
        expires_ms=now_ms + ttl_ms,
    )


async def uploaded(
    storage: Storage,
    owner: UserRecord,
    *,
    kind: str = "post",
    ttl_ms: int = TTL,
    animated: bool = False,
    colour: str = "#7a8b9c",
) -> MediaRecord:
    """An upload of ``owner`` made at NOW and stored."""
    record = upload(owner, kind=kind, ttl_ms=ttl_ms, animated=animated, colour=colour)
    await storage.add_media(record, pending_max=100)
    return record


def attached(record: MediaRecord, subject: str, alt: str | None = None) -> MediaRecord:
    """The record as attaching it leaves it."""
    return replace(record, subject=subject, alt=alt, expires_ms=None)


def detached(record: MediaRecord, now_ms: int) -> MediaRecord:
    """The attached record as detaching it at ``now_ms`` leaves it."""
    return replace(record, subject=None, expires_ms=now_ms)


async def media_post(
    storage: Storage,
    author: UserRecord,
    media: list[tuple[str, str | None]],
    *,
    now_ms: int = NOW + 1,
    nonce: str | None = None,
) -> PostRecord:
    return await storage.create_post(
        author_id=author.id,
        text="見て",
        emotext=None,
        reply_to=None,
        now_ms=now_ms,
        nonce=nonce,
        media=media,
    )


async def posts_of(storage: Storage, author: UserRecord) -> list[PostRecord]:
    return await storage.user_timeline(author.id, viewer_id=author.id, before=None, limit=100)


async def get(storage: Storage, media_id: str) -> MediaRecord:
    found = await storage.get_media(media_id)
    assert found is not None
    return found


# --- uploads -------------------------------------------------------------------------------------


async def test_add_and_get_media(storage: Storage) -> None:
    alice = await make_user(storage, "alice")
    still = upload(alice)
    moving = upload(alice, kind="avatar", animated=True, colour="#000000")
    await storage.add_media(still, pending_max=10)
    await storage.add_media(moving, pending_max=10)
    assert await storage.get_media(still.id) == still
    assert await storage.get_media(moving.id) == moving
    assert still.digests == (still.display.digest, still.thumbnail.digest)
    assert await storage.get_media(UNKNOWN_ID) is None


async def test_pending_max_bounds_an_owners_waiting_unexpired_uploads(storage: Storage) -> None:
    alice, bob = await make_user(storage, "alice"), await make_user(storage, "bob")
    first, second = upload(alice, ttl_ms=MINUTE), upload(alice)
    await storage.add_media(first, pending_max=2)
    await storage.add_media(second, pending_max=2)
    third = upload(alice)
    with pytest.raises(TooManyUploads):
        await storage.add_media(third, pending_max=2)
    assert await storage.get_media(third.id) is None
    assert await storage.count_waiting_media(alice.id, now_ms=NOW) == 2
    # Another owner's uploads are theirs.
    await storage.add_media(upload(bob), pending_max=2)
    assert await storage.count_waiting_media(bob.id, now_ms=NOW) == 1
    # Once the first has expired, it holds no place.
    assert await storage.count_waiting_media(alice.id, now_ms=NOW + MINUTE) == 1
    later = upload(alice, now_ms=NOW + MINUTE)
    await storage.add_media(later, pending_max=2)
    with pytest.raises(TooManyUploads):
        await storage.add_media(upload(alice, now_ms=NOW + MINUTE), pending_max=2)
    # An attached upload holds none either.
    await media_post(storage, alice, [(second.id, None)], now_ms=NOW + MINUTE)
    assert await storage.count_waiting_media(alice.id, now_ms=NOW + MINUTE) == 1
    await storage.add_media(upload(alice, now_ms=NOW + MINUTE), pending_max=2)
    # A bound of 0 refuses every upload.
    with pytest.raises(TooManyUploads):
        await storage.add_media(upload(bob), pending_max=0)


# --- attaching to posts --------------------------------------------------------------------------


async def test_create_post_attaches_its_pictures_in_order(storage: Storage) -> None:
    alice = await make_user(storage, "alice")
    first, second = await uploaded(storage, alice), await uploaded(storage, alice, animated=True)
    made = await media_post(storage, alice, [(second.id, "猫が寝ている"), (first.id, None)])
    subject = f"post:{made.id}"
    assert made.media == (attached(second, subject, "猫が寝ている"), attached(first, subject))
    assert await storage.get_post(made.id) == made
    assert await storage.get_media(second.id) == made.media[0]
    assert await storage.get_media(first.id) == made.media[1]
    # A post without pictures carries none.
    plain = await media_post(storage, alice, [])
    assert plain.media == ()
    assert await storage.get_post(plain.id) == plain


async def test_reads_of_posts_carry_their_pictures(storage: Storage) -> None:
    alice, bob = await make_user(storage, "alice"), await make_user(storage, "bob")
    await befriend(storage, alice, bob)
    community = await make_community(storage, alice)
    await join(storage, community, bob)
    picture, other = await uploaded(storage, alice), await uploaded(storage, alice)
    outside = await media_post(storage, alice, [(picture.id, "a view")])
    inside = await storage.create_post(
        author_id=alice.id,
        text="in the community",
        emotext=None,
        reply_to=None,
        now_ms=NOW + 2,
        community_id=community.id,
        media=[(other.id, None)],
    )
    assert outside.media and inside.media
    assert await storage.get_posts([outside.id, inside.id]) == {outside.id: outside, inside.id: inside}
    assert await storage.following_timeline(bob.id, before=None, limit=10) == [inside, outside]
    assert await storage.user_timeline(alice.id, viewer_id=bob.id, before=None, limit=10) == [inside, outside]
    assert await storage.community_timeline(community.id, before=None, limit=10) == [inside]
    items = await storage.following_stream_after(bob.id, after=SMALLEST_ID, limit=10)
    assert [item.post for item in items] == [outside, inside]


async def _someone_elses(storage: Storage, author: UserRecord) -> str:
    return (await uploaded(storage, await make_user(storage, "mallory"))).id


async def _an_avatar(storage: Storage, author: UserRecord) -> str:
    return (await uploaded(storage, author, kind="avatar")).id


async def _attached_already(storage: Storage, author: UserRecord) -> str:
    picture = await uploaded(storage, author)
    await media_post(storage, author, [(picture.id, None)], now_ms=NOW)
    return picture.id


async def _expired(storage: Storage, author: UserRecord) -> str:
    # Expiring exactly when the post is made (NOW + 1): not unexpired any more.
    return (await uploaded(storage, author, ttl_ms=1)).id


async def _detached(storage: Storage, author: UserRecord) -> str:
    picture = await uploaded(storage, author)
    held = await media_post(storage, author, [(picture.id, None)], now_ms=NOW)
    # Detached (its post deleted) at NOW: expired for the post made after.
    await storage.detach_media(f"post:{held.id}", now_ms=NOW)
    return picture.id


async def _unknown(storage: Storage, author: UserRecord) -> str:
    return UNKNOWN_ID


REFUSED: dict[str, Callable[[Storage, UserRecord], Awaitable[str]]] = {
    "someone else's": _someone_elses,
    "an avatar upload": _an_avatar,
    "attached already": _attached_already,
    "expired": _expired,
    "detached": _detached,
    "unknown": _unknown,
}


@pytest.mark.parametrize("case", list(REFUSED))
async def test_a_picture_that_cannot_be_attached_refuses_the_post(storage: Storage, case: str) -> None:
    alice = await make_user(storage, "alice")
    bad = await REFUSED[case](storage, alice)
    good = await uploaded(storage, alice)
    before_posts = await posts_of(storage, alice)
    before_bad = await storage.get_media(bad)
    with pytest.raises(MediaUnavailable) as refused:
        await media_post(storage, alice, [(good.id, "fine"), (bad, "not mine to use")], nonce="n-1")
    assert refused.value.media_id == bad
    # Nothing written: no post, the nonce still free, the picture claimed first given back.
    assert await posts_of(storage, alice) == before_posts
    assert await storage.post_by_nonce(alice.id, "n-1") is None
    assert await storage.get_media(good.id) == good
    assert await storage.get_media(bad) == before_bad
    # The same post without it is stored.
    made = await media_post(storage, alice, [(good.id, "fine")], nonce="n-1")
    assert made.media == (attached(good, f"post:{made.id}", "fine"),)


async def test_one_picture_twice_in_a_post_is_refused(storage: Storage) -> None:
    alice = await make_user(storage, "alice")
    picture = await uploaded(storage, alice)
    with pytest.raises(MediaUnavailable):
        await media_post(storage, alice, [(picture.id, None), (picture.id, "again")])
    assert await posts_of(storage, alice) == []
    assert await storage.get_media(picture.id) == picture


async def test_a_taken_nonce_is_told_before_its_pictures(storage: Storage) -> None:
    alice = await make_user(storage, "alice")
    picture, fresh = await uploaded(storage, alice), await uploaded(storage, alice)
    first = await media_post(storage, alice, [(picture.id, "once")], nonce="retry")
    # The retry names the same picture, attached by the first call: the nonce is what it hears.
    with pytest.raises(NonceTaken):
        await media_post(storage, alice, [(picture.id, "once")], nonce="retry")
    # With a picture that could be attached, still NonceTaken, and the picture stays waiting.
    with pytest.raises(NonceTaken):
        await media_post(storage, alice, [(fresh.id, None)], nonce="retry")
    assert await storage.get_media(fresh.id) == fresh
    assert await storage.post_by_nonce(alice.id, "retry") == first
    assert await posts_of(storage, alice) == [first]


async def test_concurrent_posts_attach_a_picture_once(storage: Storage, second_storage: Storage) -> None:
    alice = await make_user(storage, "alice")
    picture = await uploaded(storage, alice)
    stores = (storage, second_storage) * 3
    outcomes = await asyncio.gather(
        *(media_post(store, alice, [(picture.id, None)]) for store in stores), return_exceptions=True
    )
    made = [o for o in outcomes if isinstance(o, PostRecord)]
    assert len(made) == 1
    assert all(isinstance(o, MediaUnavailable) for o in outcomes if not isinstance(o, PostRecord))
    assert await posts_of(storage, alice) == made
    assert await storage.get_media(picture.id) == made[0].media[0]


async def test_concurrent_retries_with_pictures_store_one_post(
    storage: Storage, second_storage: Storage
) -> None:
    alice = await make_user(storage, "alice")
    picture = await uploaded(storage, alice)
    stores = (storage, second_storage) * 3
    outcomes = await asyncio.gather(
        *(media_post(store, alice, [(picture.id, None)], nonce="race") for store in stores),
        return_exceptions=True,
    )
    made = [o for o in outcomes if isinstance(o, PostRecord)]
    assert len(made) == 1
    # A loser hears NonceTaken, or, having met the picture before the winner's post was
    # stored (an adapter without transactions claims first), MediaUnavailable.
    assert all(
        isinstance(o, NonceTaken | MediaUnavailable) for o in outcomes if not isinstance(o, PostRecord)
    )
    assert await posts_of(storage, alice) == made
    assert await storage.post_by_nonce(alice.id, "race") == made[0]
    assert await storage.get_media(picture.id) == made[0].media[0]


async def test_announcement_attaches_its_pictures(storage: Storage) -> None:
    alice, bob = await make_user(storage, "alice"), await make_user(storage, "bob")
    community = await make_community(storage, alice)
    await join(storage, community, bob)
    picture = await uploaded(storage, alice)
    announced = await storage.create_announcement(
        author_id=alice.id,
        community_id=community.id,
        text="お知らせ",
        emotext=None,
        now_ms=NOW + 1,
        media=[(picture.id, "the poster")],
    )
    post = announced.post
    assert post.announcement
    assert post.media == (attached(picture, f"post:{post.id}", "the poster"),)
    assert await storage.get_post(post.id) == post
    assert await storage.community_timeline(community.id, before=None, limit=10) == [post]


async def test_a_refused_announcement_writes_nothing(storage: Storage) -> None:
    alice, bob = await make_user(storage, "alice"), await make_user(storage, "bob")
    community = await make_community(storage, alice)
    await join(storage, community, bob)
    good, avatar = await uploaded(storage, alice), await uploaded(storage, alice, kind="avatar")
    with pytest.raises(MediaUnavailable):
        await storage.create_announcement(
            author_id=alice.id,
            community_id=community.id,
            text="お知らせ",
            emotext=None,
            now_ms=NOW + 1,
            media=[(good.id, None), (avatar.id, None)],
        )
    assert await storage.community_timeline(community.id, before=None, limit=10) == []
    assert await storage.notifications(bob.id, before=None, limit=10) == []
    assert await storage.get_media(good.id) == good
    assert await storage.get_media(avatar.id) == avatar


# --- attaching to messages -----------------------------------------------------------------------


async def send(
    storage: Storage,
    conversation_id: str,
    author: UserRecord,
    media: list[tuple[str, str | None]],
    *,
    nonce: str | None = None,
) -> MessageRecord:
    return await storage.add_message(
        conversation_id,
        author_id=author.id,
        kind="text",
        text="写真",
        subject_id=None,
        now_ms=NOW + 1,
        nonce=nonce,
        media=media,
    )


async def test_add_message_attaches_its_pictures(storage: Storage) -> None:
    alice, bob = await make_user(storage, "alice"), await make_user(storage, "bob")
    conversation = await direct_conversation(storage, alice, bob)
    first, second = await uploaded(storage, alice), await uploaded(storage, alice)
    message = await send(
        storage, conversation.id, alice, [(first.id, "left"), (second.id, "right")], nonce="m"
    )
    subject = f"message:{conversation.id}:{message.id}"
    assert message.media == (attached(first, subject, "left"), attached(second, subject, "right"))
    assert (await storage.messages(conversation.id, before=None, limit=1)) == [message]
    assert await storage.message_by_nonce(conversation.id, alice.id, "m") == message
    assert (await storage.direct_stream_after(bob.id, after=SMALLEST_ID, limit=10))[-1] == message
    assert await storage.get_media(first.id) == message.media[0]
    # The retry hears its nonce, though its pictures are attached.
    with pytest.raises(NonceTaken):
        await send(storage, conversation.id, alice, [(first.id, "left"), (second.id, "right")], nonce="m")


async def test_a_refused_message_writes_nothing(storage: Storage) -> None:
    alice, bob = await make_user(storage, "alice"), await make_user(storage, "bob")
    conversation = await direct_conversation(storage, alice, bob)
    good, bobs = await uploaded(storage, alice), await uploaded(storage, bob)
    before = await storage.messages(conversation.id, before=None, limit=10)
    with pytest.raises(MediaUnavailable) as refused:
        await send(storage, conversation.id, alice, [(good.id, None), (bobs.id, None)], nonce="m")
    assert refused.value.media_id == bobs.id
    assert await storage.messages(conversation.id, before=None, limit=10) == before
    updated = await storage.get_conversation(conversation.id)
    assert updated is not None and updated.last_message_id == conversation.last_message_id
    assert await storage.message_by_nonce(conversation.id, alice.id, "m") is None
    assert await storage.get_media(good.id) == good
    with pytest.raises(NotFound):
        await send(storage, UNKNOWN_ID, alice, [(good.id, None)])
    assert await storage.get_media(good.id) == good


# --- profiles ------------------------------------------------------------------------------------


async def test_set_avatar_attaches_it_and_detaches_the_one_it_replaces(storage: Storage) -> None:
    alice = await make_user(storage, "alice")
    assert (alice.avatar_id, alice.avatar_placeholder) == (None, None)
    first = await uploaded(storage, alice, kind="avatar", colour="#112233")
    second = await uploaded(storage, alice, kind="avatar", colour="#445566")
    subject = f"avatar:{alice.id}"

    user, replaced = await storage.set_avatar(alice.id, first.id, now_ms=NOW + 1)
    assert (user.avatar_id, user.avatar_placeholder, replaced) == (first.id, "#112233", None)
    assert user == replace(alice, avatar_id=first.id, avatar_placeholder="#112233")
    assert await stored(storage, alice) == user
    assert await storage.get_media(first.id) == attached(first, subject)

    user, replaced = await storage.set_avatar(alice.id, second.id, now_ms=NOW + 2)
    assert (user.avatar_id, user.avatar_placeholder, replaced) == (second.id, "#445566", first.id)
    assert await stored(storage, alice) == user
    assert await storage.get_media(first.id) == detached(attached(first, subject), NOW + 2)
    assert await storage.expired_media(NOW + 2, limit=10) == [detached(attached(first, subject), NOW + 2)]

    user, replaced = await storage.set_avatar(alice.id, None, now_ms=NOW + 3)
    assert (user.avatar_id, user.avatar_placeholder, replaced) == (None, None, second.id)
    assert await stored(storage, alice) == user
    assert await storage.get_media(second.id) == detached(attached(second, subject), NOW + 3)
    # Nothing to remove: nothing replaced.
    assert await storage.set_avatar(alice.id, None, now_ms=NOW + 4) == (user, None)


async def test_a_refused_avatar_changes_nothing(storage: Storage) -> None:
    alice, bob = await make_user(storage, "alice"), await make_user(storage, "bob")
    current = await uploaded(storage, alice, kind="avatar")
    user, _ = await storage.set_avatar(alice.id, current.id, now_ms=NOW + 1)
    for refused in (
        await uploaded(storage, alice),  # a post's picture
        await uploaded(storage, bob, kind="avatar"),  # someone else's
        await uploaded(storage, alice, kind="avatar", ttl_ms=1),  # expired
        current,  # attached already (as this very avatar)
    ):
        with pytest.raises(MediaUnavailable):
            await storage.set_avatar(alice.id, refused.id, now_ms=NOW + 2)
        assert await stored(storage, alice) == user
        assert await storage.get_media(current.id) == attached(current, f"avatar:{alice.id}")
        if refused is not current:
            assert await storage.get_media(refused.id) == refused
    with pytest.raises(MediaUnavailable):
        await storage.set_avatar(alice.id, UNKNOWN_ID, now_ms=NOW + 2)
    assert await stored(storage, alice) == user
    with pytest.raises(NotFound):
        await storage.set_avatar(UNKNOWN_ID, None, now_ms=NOW + 2)


async def test_concurrent_avatars_leave_only_the_last_set_attached(
    storage: Storage, second_storage: Storage
) -> None:
    alice = await make_user(storage, "alice")
    pictures = [await uploaded(storage, alice, kind="avatar") for _ in range(6)]
    stores = (storage, second_storage) * 3
    outcomes = await asyncio.gather(
        *(store.set_avatar(alice.id, p.id, now_ms=NOW + 1) for store, p in zip(stores, pictures, strict=True))
    )
    user = await stored(storage, alice)
    assert user.avatar_id in {p.id for p in pictures}
    # Each call replaced what another set before it: all but the first replaced something.
    replaced = [r for _, r in outcomes]
    assert sorted(r for r in replaced if r is not None) == sorted(
        p.id for p in pictures if p.id != user.avatar_id
    )
    for picture in pictures:
        found = await get(storage, picture.id)
        if picture.id == user.avatar_id:
            assert found == attached(picture, f"avatar:{alice.id}")
        else:
            assert found == detached(attached(picture, f"avatar:{alice.id}"), NOW + 1)


async def test_update_profile_sets_the_fields_given(storage: Storage) -> None:
    alice = await make_user(storage, "alice")
    assert (alice.bio, alice.interests) == ("", ())
    user = await storage.update_profile(alice.id, bio="お茶と写真 🍵")
    assert user == replace(alice, bio="お茶と写真 🍵")
    user = await storage.update_profile(alice.id, interests=["tea", "photography", "cats"])
    assert user == replace(alice, bio="お茶と写真 🍵", interests=("tea", "photography", "cats"))
    user = await storage.update_profile(alice.id, display_name="Alice A.", interests=["cats", "tea"])
    expected = replace(alice, display_name="Alice A.", bio="お茶と写真 🍵", interests=("cats", "tea"))
    assert user == expected
    assert await stored(storage, alice) == expected
    # Emptied, and given nothing (unchanged).
    assert await storage.update_profile(alice.id, bio="", interests=[]) == replace(
        expected, bio="", interests=()
    )
    assert await storage.update_profile(alice.id) == replace(expected, bio="", interests=())
    assert await storage.update_profile(UNKNOWN_ID, bio="nobody") is None


# --- detaching and collecting --------------------------------------------------------------------


async def test_detach_media_frees_a_deleted_posts_pictures_once(storage: Storage) -> None:
    alice = await make_user(storage, "alice")
    first, second, kept = [await uploaded(storage, alice) for _ in range(3)]
    held = await media_post(storage, alice, [(second.id, "b"), (first.id, "a")])
    other = await media_post(storage, alice, [(kept.id, None)])
    await storage.delete_post(held.id)
    subject = f"post:{held.id}"
    freed = await storage.detach_media(subject, now_ms=NOW + MINUTE)
    # As they were, by id.
    assert freed == sorted(held.media, key=lambda r: r.id)
    assert await storage.get_media(first.id) == detached(attached(first, subject, "a"), NOW + MINUTE)
    assert await storage.get_media(second.id) == detached(attached(second, subject, "b"), NOW + MINUTE)
    assert await storage.get_media(kept.id) == other.media[0]
    assert await storage.detach_media(subject, now_ms=NOW + 2 * MINUTE) == []
    assert await storage.detach_media("post:" + UNKNOWN_ID, now_ms=NOW) == []
    # What a post carries stays as it was attached.
    deleted = await storage.get_post(held.id)
    assert deleted is not None and deleted.media == held.media


async def test_expired_media_are_the_unattached_earliest_first(storage: Storage) -> None:
    alice = await make_user(storage, "alice")
    late = await uploaded(storage, alice, ttl_ms=3 * MINUTE)
    early = await uploaded(storage, alice, ttl_ms=MINUTE)
    middle = await uploaded(storage, alice, ttl_ms=2 * MINUTE)
    waiting = await uploaded(storage, alice, ttl_ms=DAY)
    held = await uploaded(storage, alice, ttl_ms=MINUTE)
    await media_post(storage, alice, [(held.id, None)], now_ms=NOW)
    assert await storage.expired_media(NOW + MINUTE - 1, limit=10) == []
    assert await storage.expired_media(NOW + MINUTE, limit=10) == [early]
    assert await storage.expired_media(NOW + 3 * MINUTE, limit=10) == [early, middle, late]
    assert await storage.expired_media(NOW + 3 * MINUTE, limit=2) == [early, middle]
    assert await storage.expired_media(NOW + 3 * MINUTE, limit=0) == []
    assert waiting not in await storage.expired_media(NOW + DAY - 1, limit=10)


async def test_delete_media_keeps_what_was_attached_meanwhile(storage: Storage) -> None:
    alice = await make_user(storage, "alice")
    gone = await uploaded(storage, alice, ttl_ms=MINUTE)
    taken = await uploaded(storage, alice, ttl_ms=2 * MINUTE)
    # The collector lists both as expired at NOW + 2 min...
    listed = await storage.expired_media(NOW + 2 * MINUTE, limit=10)
    assert listed == [gone, taken]
    # ...and "taken", never expired for a writer whose clock is behind, is attached meanwhile.
    made = await media_post(storage, alice, [(taken.id, None)], now_ms=NOW + MINUTE + 1)
    await storage.delete_media([record.id for record in listed] + [UNKNOWN_ID])
    assert await storage.get_media(gone.id) is None
    assert await storage.get_media(taken.id) == made.media[0]
    await storage.delete_media([])
    assert await storage.get_media(taken.id) == made.media[0]


# --- MongoDB: documents of schema 7 --------------------------------------------------------------


async def test_mongo_documents_of_schema_7_read_as_without_pictures(
    mongo_backend: MongoBackend, mongo_database: str
) -> None:
    adapter = storage_class(mongo_backend)
    storage = await adapter.open(mongo_backend.url, database=mongo_database)
    try:
        alice, bob = await make_user(storage, "alice"), await make_user(storage, "bob")
        made = await media_post(storage, alice, [])
        conversation = await direct_conversation(storage, alice, bob)
        message = await send(storage, conversation.id, alice, [])
    finally:
        await storage.close()
    client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(mongo_backend.url)
    try:
        db = client[mongo_database]
        # As schema 7 wrote them: none of the fields schema 8 added.
        unset = {"bio": "", "interests": "", "avatar_id": "", "avatar_placeholder": ""}
        await db["users"].update_many({}, {"$unset": unset})
        await db["posts"].update_many({}, {"$unset": {"media": ""}})
        await db["messages"].update_many({}, {"$unset": {"media": ""}})
        await db["meta"].update_one({"_id": "schema"}, {"$set": {"version": 7}})
        old = await db["users"].find_one({"_id": alice.id})
        assert old is not None and "bio" not in old
        storage = await adapter.open(mongo_backend.url, database=mongo_database)
        try:
            assert await stored(storage, alice) == alice
            assert await storage.get_post(made.id) == made
            assert await storage.messages(conversation.id, before=None, limit=1) == [message]
            # And they take the new fields.
            updated = await storage.update_profile(alice.id, interests=["tea"])
            assert updated == replace(alice, interests=("tea",))
            avatar = await uploaded(storage, alice, kind="avatar")
            user, replaced = await storage.set_avatar(alice.id, avatar.id, now_ms=NOW + 1)
            assert (user.avatar_id, replaced) == (avatar.id, None)
        finally:
            await storage.close()
        meta = await db["meta"].find_one({"_id": "schema"})
        assert meta is not None and meta["version"] == SCHEMA_VERSION
    finally:
        await client.close()
