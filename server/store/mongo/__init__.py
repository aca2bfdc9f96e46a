"""Storage on MongoDB, through PyMongo's asyncio driver (:class:`pymongo.AsyncMongoClient`).

Same contract and same ids as the SQLite adapter (:mod:`server.store.base` is the contract):
every persisted item's id comes from :class:`server.ids.IdGenerator` and is the ``_id`` string
of its document (an invite's is the hex SHA-256 of its code, :func:`.database.invite_key`:
the code itself is stored nowhere, as in the SQLite adapter).

Modules
    :mod:`.database` declares the layout (:data:`INDEXES`, :data:`SCHEMA_VERSION`), opens
    and migrates it, and checks it for ``tsudoi doctor`` (:func:`check`); :mod:`.driver`
    raises driver errors as the port's and undoes multi-document writes; :mod:`.records`
    reads documents back as records. Then one module per area of the port, named as the area
    (:mod:`server.store.base`) and as its SQLite twin, each a base of :class:`MongoStorage`
    over the same collections: :mod:`.accounts` (users, invites, sessions), :mod:`.relations`
    (follows, blocks, mutes), :mod:`.posts` (posts, streams, reactions), :mod:`.communities`,
    :mod:`.conversations`, :mod:`.notifications`, :mod:`.safety` (safety statuses,
    incidents), :mod:`.moderation` (reports), :mod:`.webhooks`, :mod:`.signals` and
    :mod:`.media` (uploaded pictures, and the claim that attaches them); and :mod:`.search`
    (people and posts by substring, and the fields that index them).

Collections
    ``users``, ``invites``, ``sessions``, ``follows``, ``posts``, ``meta`` (the schema version
    document ``{_id: "schema", version: N}``) and ``invite_quotas`` (one document per inviter
    listing the invites that still hold one of the inviter's slots, see below); since schema 2
    ``reactions``, ``communities``, ``memberships``, ``join_requests``, ``bans``,
    ``conversations``, ``conversation_members``, ``messages``, ``notifications``, ``blocks``,
    ``mutes`` and ``reports``; since schema 3 ``safety_statuses`` and ``incidents``;
    since schema 4 ``webhooks`` and ``server_keys`` (see :mod:`.webhooks`); since schema 6
    ``community_notifications`` (an announcement's notification, stored once for all the
    community's members), ``notification_reads`` and ``notification_marks`` (each member's read
    state of them; see :mod:`.notifications`); ``signals`` (bus messages relayed through
    storage, :mod:`.signals`; it needs no index beyond ``_id``, so no schema version). One
    document per record of the port, and one per relation (a membership, a reaction, a
    block) rather than an array inside a user or a community: no document grows with its
    community's or its post's success, and every relation is one entry of a unique index.
    Optional fields are stored explicitly as ``null`` and matched with ``{field: NULL}``
    (:data:`.driver.NULL`, ``{"$eq": None}``, the spelled-out form of MongoDB's ``{field:
    None}`` idiom for "null or missing"); booleans are BSON booleans, token hashes BSON
    binary. Documents written at schema 1 lack the fields added
    in 2 (``users.dm_policy``; ``posts.community_id``, ``repost_of``, ``quote_of``,
    ``announcement``), and users written before 3 lack ``presence_visibility`` and
    ``last_seen_ms``: they read as the port's defaults and ``{field: NULL}`` matches them,
    so nothing is rewritten on upgrade. Since schema 5 posts and messages carry the client's
    ``nonce`` (null without one); older documents lack it, and the partial unique indexes
    ``nonce_unique`` (``{nonce: {$type: "string"}}``) leave both out. Since schema 8
    ``media`` holds uploaded pictures, one document per :class:`~server.store.base.MediaRecord`;
    users carry ``bio``, ``interests`` (an array, in the user's order), ``avatar_id`` and
    ``avatar_placeholder``, and posts and messages ``media``, the array of the pictures
    attached to them, each element the whole record (its id under ``id``) as attached: what
    a timeline shows needs no second read, and an attached picture never changes. Documents
    of before lack these fields and read as the port's defaults (no pictures, an empty bio).
    Since schema 10 posts carry ``tags``, the array of their normalised hashtags
    (``protocol.text.hashtags``), under the multikey index ``by_tag``; unlike the fields
    above, a query needs it, so the posts of before are given theirs when a node of schema 10
    first opens the database (:meth:`.database.Database._tag_posts`).
    Since schema 11 standing posts with text carry ``search_text`` and ``search_grams`` and
    users ``name_key`` (:mod:`.search`); documents of before are given them at open.
    Since schema 13 ``push_subscriptions``, ``push_preferences``, ``push_queue`` and
    ``push_leases`` hold Web Push (:mod:`.push`). Since schema 12 sessions carry ``device`` and ``last_used_ms`` (absent: "" and None) and
    are listed newest first through ``by_user_newest``.
    Since schema 15 users carry ``handle_changed_ms`` (absent: never changed) and, while their
    deletion is unfinished, ``deletion_lease_ms`` (partial index ``unfinished_deletions``);
    ``former_handles`` holds one document per former handle, ``_id`` its lower-cased form,
    with ``handle``, ``user_id`` and ``until_ms``.

Indexes
    Declared once, in :data:`INDEXES`, and covered by :data:`SCHEMA_VERSION`. :meth:`open`
    creates them every time it runs (``createIndexes`` is a no-op for an index that exists
    with the same definition, and this brings back one an operator dropped), then raises the
    version recorded in ``meta`` with ``$max``, so processes starting together agree. A
    database recorded at a newer version than this code knows is refused. Changing an index
    means changing :data:`INDEXES` *and* bumping :data:`SCHEMA_VERSION`. Each index says in
    :data:`INDEXES` which reads it serves; uniqueness is how concurrent writers are decided
    (below). Pages ordered by id use compound indexes ending in ``_id`` (``(community_id,
    _id)``...), so a page is one index range read in order, never a sort. Those non-unique
    ordering indexes change speed, never results: the tests open the adapter without them on
    the nx-27017 stand-in, which cannot write through them (:attr:`.database.Database.created_indexes`).

Durability
    Writes use ``w="majority", journal=True`` unless the URL says otherwise: on a replica set a
    write has reached the journal of a majority when the method returns, on a standalone the
    journal of the one server, which is what the SQLite adapter's ``synchronous=FULL`` gives.
    ``serverSelectionTimeoutMS=5000`` (unless the URL says otherwise) makes an outage fail in
    seconds. Every driver error (connection failure, server selection timeout, an operation
    the server refused) that is not a meaning of its own below (a duplicate key) is raised as
    :class:`StorageUnavailable`.

Single-document operations
    MongoDB updates one document atomically, so every "only if" of the contract that concerns
    one document is one conditional ``find_one_and_update``/``update_one``: a post is deleted
    only if ``deleted_pos`` is null, a session revoked only if ``revoked_ms`` is null, an invite
    claimed only if ``used_by`` is null and it has not expired, a report resolved only if
    ``resolved_ms`` is null, a notification read only if unread; markers that only move
    forward (a conversation's ``last_message_id``, a member's ``last_read``, a user's
    ``last_seen_ms``) move with ``$max``, so concurrent writers leave the greatest
    (``record_last_seen`` sends one unordered ``bulk_write`` of them, one per user).
    Uniqueness (handles, case folded into ``handle_key``; follows; token hashes; reactions
    per (post, user, emoji); memberships, join requests and bans per (community, user);
    conversation members per (conversation, user); blocks and mutes per pair; one direct
    conversation per pair of users, through its ``pair_key``; a client's nonce per author for
    posts and per (conversation, author) for messages) is enforced by unique indexes,
    and a duplicate key is the answer (HandleTaken, "already following", "already a
    member", the pair's existing conversation, NonceTaken).

Incidents
    At most one is active, whatever number of processes start one at once. The active
    incident's document carries ``active: true``, and only it: ``end_incident`` removes the
    field (``$unset``) in the same ``find_one_and_update`` that sets ``ended_ms``. The unique
    index ``one_active`` on ``active``, partial on ``{active: true}``, holds only that
    document, so ``start_incident`` is one ``insert_one`` and a duplicate key is the answer
    "one is active" (None, nothing written). No check comes before the insert, so none can
    race it; ending and starting again is the index forgetting one document and taking
    another. ``active_incident`` reads the same index.

Multi-document operations, without transactions
    Multi-document transactions need a replica set and do not, on their own, stop two
    concurrent "count, then insert" transactions from both succeeding (snapshot isolation
    allows that write skew unless both write one common document). The operations that span
    documents are therefore built from single-document atomic steps ordered so that a
    concurrent caller can never get past a check it should fail, and so that a failure part
    way is undone (:class:`.driver.Undo`: each step that wrote registers its inverse, run newest
    first when a later step fails or refuses), or, where undoing is impossible (the database
    went away), leaves a remnant (below). The first write of each that can be refused is the
    one that decides between concurrent callers (an insert under a unique index, or a
    conditional update), so a caller that loses has written nothing. This works the same on a standalone
    server, a replica set and a sharded cluster. A process killed part way undoes nothing:
    besides the remnants named for ``create_user`` and ``create_invite`` below, it may leave
    a membership of a community never made, a ``member_count`` one off, an announcement's
    post without its notification, a ban beside a
    membership not yet removed, a conversation without its members or its "created"
    message, a message that is not yet its conversation's last, a block beside follows not
    yet ended, or a transfer lease, which expires.

    ``create_user``
        1. *Claim* the invite: ``find_one_and_update({_id: key, used_by: None, expires_ms:
           {$gt: now}}, {$set: {used_by: <new id>, used_ms: now}})``, where ``key`` is the
           code's ``invite_key``. Exactly one of any number of concurrent sign-ups on one
           code gets it. When the claim matches nothing,
           the invite is read to tell InviteNotFound / InviteUsed / InviteExpired apart (and
           the claim is retried if it has been released meanwhile).
        2. Insert the user. The unique index on ``handle_key`` makes a taken handle a
           DuplicateKeyError: the claim is released (``used_by`` back to null, only if it is
           still ours) and HandleTaken raised.
        3. Insert the newcomer's follow of the inviter. Should that fail, the user is deleted
           and the claim released before the error is raised.
        4. Free the invite's slot in the inviter's quota document (below). If this last step
           fails the user stands and is returned: the slot stays held until the invite's
           expiry time, which only makes the inviter's limit stricter for a while.
        Between steps other readers may briefly see the claimed invite, or the user before
        their follow; they never see a user without a claimed invite.

    Handles (``change_handle``, and ``create_user``'s last check)
        A handle is one account's across ``users.handle_key`` (unique index) and
        ``former_handles._id``. A change first records the old handle as a former one (only
        its account can hold it, so the upsert overwrites nobody's), then moves ``handle_key``
        by a conditional ``find_one_and_update`` (the cooldown is in its filter; a duplicate
        key is HandleTaken), and only then reads ``former_handles`` for the new handle; a
        sign-up likewise reads it after inserting the user. Of a write taking a handle and a
        change leaving it, the one that writes second sees the other: a loser puts its own
        writes back and raises HandleTaken. A process killed in between may leave a former
        handle recorded for the account's current one (harmless: the account's own) or, in
        the narrower gap before the last read, a handle held by two accounts.

    ``create_invite`` with ``max_unused``
        "Count the inviter's unused, unexpired invites, then insert one" races across
        processes, and a plain counter with a conditional ``$inc`` cannot forget invites as
        they expire. So each inviter has one ``invite_quotas`` document whose ``open`` array
        lists ``{code: <invite key>, expires_ms}`` for every invite of theirs not used yet
        (``code`` holds the invite's ``_id``, never the code itself): the array is the
        counter, and it knows expiry times. Making an invite is
        1. prune: ``$pull`` the entries that have expired by ``now`` (creating the document
           with an empty array the first time);
        2. take a slot: ``update_one({_id: inviter, "open.<max_unused - 1>": {$exists:
           False}}, {$push: {open: {code, expires_ms}}})`` which matches only while the array
           holds fewer than ``max_unused`` entries, atomically; no match is
           InviteLimitReached. Without ``max_unused`` the entry is pushed unconditionally,
           so that an inviter's uncapped invites count if a capped request comes later;
        3. insert the invite (on failure the slot is pulled back).
        ``create_user`` pulls the entry when the invite is used (step 4 above) and puts
        nothing back on HandleTaken because it pulls only after the user exists. A crash
        between steps leaves at most an entry for an invite that does not exist or is used,
        which holds a slot until its ``expires_ms`` and is then pruned: the limit may be
        stricter than it should for a while, never looser. Bootstrap invites (no inviter)
        share the quota document ``_id: "(bootstrap)"``, which no user id can equal.

    ``member_count``
        A community's ``member_count`` changes only by ``$inc``, and only after the membership
        document it counts was inserted (+1) or deleted (-1) by the same call: the unique
        ``(community_id, user_id)`` index decides between concurrent joins, and a delete that
        removed nothing (a concurrent leave, ban or removal got there first) changes no count.
        So once the calls in flight have finished, the count is the number of memberships,
        whatever ran concurrently; a reader may find it one off while a call is between its
        two steps.

    ``create_community``
        The owner's membership first, then the community with ``member_count: 1``. Until the
        community exists nobody knows its id; if inserting it fails the membership is deleted.

    ``add_member``
        Check the community exists (NotFound), insert the membership (a duplicate key: already
        a member, None, nothing written), ``$inc`` the count, delete the user's join request.

    ``ban``
        Insert the ban (a duplicate key: banned already, False, nothing written), then delete
        the membership (and ``$inc`` -1 if there was one), then the join request. A
        concurrent ``add_member`` ends either before (the ban removes the membership) or after
        (a member who is banned, which is what "add, then ban" and "ban, then add" leave).

    ``transfer_ownership``
        Check that ``from_id`` owns the community and ``to_id`` is a member, then move the
        owner and take a *lease* in one ``update_one({_id, owner_id: from_id, transfer: none
        live}, {$set: {owner_id: to_id, transfer: {token, until_ms}}})``: of concurrent
        transfers only one matches, and while the lease is live no other transfer does (one
        by the new owner, started before this one has finished, answers False, as if it had
        run first). Then ``to_id``'s role becomes "owner" (if their membership went
        meanwhile, the owner is moved back and the answer is False), then ``from_id``'s
        "moderator", then the lease is released. A call cut off half way leaves a lease that
        expires after :data:`.communities._TRANSFER_LEASE_MS` (by this process's clock).

    ``create_conversation``
        A direct conversation's ``pair_key`` is its two member ids sorted and joined; a unique
        index (partial: groups have none) makes the conversation document the decision: the
        caller whose insert meets a duplicate key writes nothing and returns the pair's
        existing conversation. The conversation is inserted first, then its members, then
        its "created" message (its ``last_message_id``, whose id is taken before the
        conversation is inserted). Readers find messages through members, so nobody sees the
        message before the membership that makes it theirs.

    ``add_message``, ``add_conversation_members``, ``remove_conversation_member``
        The member change (an insert under the unique ``(conversation_id, user_id)`` index,
        or a ``find_one_and_delete``) decides; then the message(s), then ``$max`` on the
        conversation's ``last_message_id``, so concurrent appends leave the newest. A message
        with a nonce is inserted first: a duplicate key there (NonceTaken) has written nothing.

    Attaching pictures (``create_post``, ``create_announcement``, ``add_message``)
        1. With a nonce, look for the author's item with it: NonceTaken if there is one, so
           that a retry is told so rather than MediaUnavailable for the pictures its first
           call attached.
        2. *Claim* each picture in order, with ``find_one_and_update({_id, owner_id, kind,
           subject: null, expires_ms: {$gt: now}}, {$set: {subject, alt, expires_ms: null}})``
           (:func:`.media.claim`); the subject names the item's id, taken before anything is
           written. Of concurrent claims of one picture exactly one matches. A claim that
           matches nothing is MediaUnavailable (after a second look for the nonce: a
           concurrent retry may have stored the item meanwhile), and the claims made are
           given back (``subject`` null, ``alt`` and ``expires_ms`` as they were, only if the
           subject is still this call's).
        3. Insert the item with its pictures (then the announcement's notification, the
           conversation's ``last_message_id``, as without pictures). If that fails (a
           duplicate nonce: NonceTaken) the item is deleted and the claims given back.
        A process killed between 2 and 3 leaves pictures attached to an item that does not
        exist (they are never collected); never an item whose pictures wait to be attached
        elsewhere, or collected.

    ``set_avatar``
        Claim the new picture (as above, kind "avatar", subject "avatar:<user id>"), then set
        the user's ``avatar_id`` and ``avatar_placeholder`` with one ``find_one_and_update``
        that returns the user as it was, then detach the picture it names, only that one
        (``subject`` null, ``expires_ms`` now). Concurrent calls are ordered by the user update:
        each detaches what the one before it set, so every picture but the one set last is
        detached. A failure undoes the user update and gives the claim back; a process killed
        part way leaves a picture attached as the user's avatar that the user does not show.

    ``block``
        Insert the block (a duplicate key: nothing changes), then delete the follows either
        way with ``find_one_and_delete``, which tells exactly which ones this call ended.

    ``add_notifications``
        One ordered ``insert_many``; if it fails, the ids it was given are deleted.

    ``create_announcement``
        Check the community exists (NotFound), insert the post, then its notification to the
        members (one ``community_notifications`` document, its id taken after the post's); if
        that fails, both are deleted. A member who finds the notification finds its post.

    ``mark_notification_read``, ``mark_all_notifications_read``
        Reading one announcement is an insert under the unique ``(user_id, notification_id)``
        index of ``notification_reads``: of concurrent calls one answers True. Reading them all
        counts the user's unread announcements up to the newest, marks their own
        notifications read, raises the user's ``read_through`` to the newest with ``$max``
        (upserted), then deletes their reads the mark covers. A read inserted concurrently at
        or below the mark stays until the next mark, and changes nothing: the mark covers it.

Ordering
    Ids are time-ordered and strictly increase within one process (one IdGenerator per
    storage). Several server processes on one database each have their own generator, so
    their ids interleave by time only; exactly as with several SQLite processes.
    ``list_invites`` sorts by ``created_ms`` then ``seq`` (an id taken when the invite is
    made), so invites of one millisecond come out last made first.
"""

from __future__ import annotations

from .accounts import AccountStore
from .communities import CommunityStore
from .conversations import ConversationStore
from .database import INDEXES, SCHEMA_VERSION, check, schema_version
from .media import MediaStore
from .moderation import ModerationStore
from .notifications import NotificationStore
from .posts import PostStore
from .push import PushStore
from .relations import RelationStore
from .safety import SafetyStore
from .search import SearchStore
from .signals import SignalStore
from .webhooks import WebhookStore

__all__ = ["INDEXES", "SCHEMA_VERSION", "MongoStorage", "check", "schema_version"]


class MongoStorage(
    AccountStore,
    RelationStore,
    PostStore,
    CommunityStore,
    ConversationStore,
    NotificationStore,
    SafetyStore,
    ModerationStore,
    WebhookStore,
    SignalStore,
    MediaStore,
    SearchStore,
    PushStore,
):
    """Storage on one MongoDB database. Build with :meth:`open`.

    Each base is one area of the port over the same :class:`~.database.Database` (client,
    collections, id generator); this class only combines them. Bases rather than members:
    the port (:class:`~server.store.base.Storage`) is the sum of its areas' Protocols, and
    forwarding each of their methods to a member would restate every signature.
    """
