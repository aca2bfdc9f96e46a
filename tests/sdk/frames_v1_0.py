"""Server frames exactly as the 1.0.0 specification shows them (PROTOCOL.md at commit 00ad8b3,
the last one of specification version 1.0.0): what a 1.0 server sends, for the SDK to read."""

from __future__ import annotations

#: (AsyncAPI message name, frame), in the order the 1.0.0 specification gives them.
FRAMES: list[tuple[str, str]] = [
    (
        "hello",
        '{"op": "hello", "protocol": "tsudoi.v1", "server_version": "0.1.0", "heartbeat_interval_ms": 25000, "heartbeat_timeout_ms": 60000, "auth_timeout_ms": 10000, "limits": {"max_frame_bytes": 65536, "max_server_frame_bytes": 1048576, "post_max_clusters": 149, "post_max_code_points": 2048, "resume_max_items": 1000, "send_queue_max": 512, "max_unused_invites": 5, "frame_burst": 100, "frame_refill_ms": 50, "post_burst": 10, "post_refill_ms": 3000}}',
    ),
    (
        "ready",
        '{"op": "ready", "user": {"id": "01M6DRNNTGEPJAGK15WSGG6CMW", "handle": "hanako", "display_name": "山田 花子", "verified": false, "bot": false, "created_at": "2026-11-02T09:15:30.000Z", "followers_count": 2, "following_count": 1, "following": false, "followed_by": false}, "session_id": "01M7Z5BMW07PJB47KBT0SS27PG", "recovered": false, "replayed": 0}',
    ),
    (
        "heartbeat.ok",
        '{"op": "ok", "id": "hb1", "data": {"server_time": "2026-11-21T13:44:58.003Z"}}',
    ),
    (
        "post.create.ok",
        '{"op": "ok", "id": "7", "data": {"post": {"id": "01M7Z5MSYV0S6E0ZYBTQ7CHG0W", "author": {"id": "01M6DRNNTGEPJAGK15WSGG6CMW", "handle": "hanako", "display_name": "山田 花子", "verified": false, "bot": false}, "text": "地震だ、みんな無事？", "emotext": "shake", "reply_to": null, "created_at": "2026-11-21T13:45:00.123Z"}}}',
    ),
    (
        "post.create.ok",
        '{"op": "ok", "id": "r-41", "data": {"post": {"id": "01M7Z5MWMQC2VX1CM3MXE5RXD4", "author": {"id": "01M73K2V5R8ZX9CJ7PQTM4M82N", "handle": "taro_k", "display_name": "川口 太郎", "verified": false, "bot": false}, "text": "こっちは大丈夫！棚から本が落ちただけ", "emotext": null, "reply_to": "01M7Z5MSYV0S6E0ZYBTQ7CHG0W", "created_at": "2026-11-21T13:45:02.871Z"}}}',
    ),
    (
        "post.delete.ok",
        '{"op": "ok", "id": "9", "data": {"post_id": "01M7Z3MWDW88G9C4QTT0N7GYSQ"}}',
    ),
    (
        "follow.ok",
        '{"op": "ok", "id": "11", "data": {"user": {"id": "01M7F3H4YT1ASZ7K8AQB1GPXSP", "handle": "mika_s", "display_name": "Mika", "verified": false, "bot": false, "created_at": "2026-11-15T08:00:12.250Z", "followers_count": 1, "following_count": 1, "following": true, "followed_by": true}}}',
    ),
    (
        "unfollow.ok",
        '{"op": "ok", "id": "12", "data": {"user": {"id": "01M7F3H4YT1ASZ7K8AQB1GPXSP", "handle": "mika_s", "display_name": "Mika", "verified": false, "bot": false, "created_at": "2026-11-15T08:00:12.250Z", "followers_count": 0, "following_count": 1, "following": false, "followed_by": true}}}',
    ),
    (
        "timeline.following.ok",
        '{"op": "ok", "id": "13", "data": {"posts": [{"id": "01M7Z5MWMQC2VX1CM3MXE5RXD4", "author": {"id": "01M73K2V5R8ZX9CJ7PQTM4M82N", "handle": "taro_k", "display_name": "川口 太郎", "verified": false, "bot": false}, "text": "こっちは大丈夫！棚から本が落ちただけ", "emotext": null, "reply_to": "01M7Z5MSYV0S6E0ZYBTQ7CHG0W", "created_at": "2026-11-21T13:45:02.871Z"}, {"id": "01M7Z5MSYV0S6E0ZYBTQ7CHG0W", "author": {"id": "01M6DRNNTGEPJAGK15WSGG6CMW", "handle": "hanako", "display_name": "山田 花子", "verified": false, "bot": false}, "text": "地震だ、みんな無事？", "emotext": "shake", "reply_to": null, "created_at": "2026-11-21T13:45:00.123Z"}], "next": "01M7Z5MSYV0S6E0ZYBTQ7CHG0W"}}',
    ),
    (
        "timeline.following.ok",
        '{"op": "ok", "id": "14", "data": {"posts": [{"id": "01M7Z3036P5Y9AKD8YZKVF8YN3", "author": {"id": "01M73K2V5R8ZX9CJ7PQTM4M82N", "handle": "taro_k", "display_name": "川口 太郎", "verified": false, "bot": false}, "text": "駅前のパン屋、今日から営業再開だって", "emotext": "runrun", "reply_to": null, "created_at": "2026-11-21T12:58:44.310Z"}], "next": null}}',
    ),
    (
        "user.get.ok",
        '{"op": "ok", "id": "15", "data": {"user": {"id": "01M73K2V5R8ZX9CJ7PQTM4M82N", "handle": "taro_k", "display_name": "川口 太郎", "verified": false, "bot": false, "created_at": "2026-11-10T20:41:07.512Z", "followers_count": 1, "following_count": 1, "following": true, "followed_by": true}}}',
    ),
    (
        "invite.create.ok",
        '{"op": "ok", "id": "16", "data": {"invite": {"code": "q3V9xKp2LmT8wRz4NbY7cA", "url": "https://tsudoi.example/i/q3V9xKp2LmT8wRz4NbY7cA", "created_at": "2026-11-21T13:52:10.000Z", "expires_at": "2026-11-28T13:52:10.000Z", "used_by": null, "used_at": null}}}',
    ),
    (
        "invite.list.ok",
        '{"op": "ok", "id": "18", "data": {"invites": [{"code": "q3V9xKp2LmT8wRz4NbY7cA", "url": "https://tsudoi.example/i/q3V9xKp2LmT8wRz4NbY7cA", "created_at": "2026-11-21T13:52:10.000Z", "expires_at": "2026-11-28T13:52:10.000Z", "used_by": null, "used_at": null}, {"code": "J4nR8vPq2sXw6tYk0mLd3g", "url": "https://tsudoi.example/i/J4nR8vPq2sXw6tYk0mLd3g", "created_at": "2026-11-10T20:30:00.000Z", "expires_at": "2026-11-17T20:30:00.000Z", "used_by": {"id": "01M73K2V5R8ZX9CJ7PQTM4M82N", "handle": "taro_k", "display_name": "川口 太郎", "verified": false, "bot": false}, "used_at": "2026-11-10T20:41:07.512Z"}]}}',
    ),
    (
        "event.post.created",
        '{"op": "event", "seq": 4, "type": "post.created", "stream": "following", "pos": "01M7Z5MSYV0S6E0ZYBTQ7CHG0W", "data": {"post": {"id": "01M7Z5MSYV0S6E0ZYBTQ7CHG0W", "author": {"id": "01M6DRNNTGEPJAGK15WSGG6CMW", "handle": "hanako", "display_name": "山田 花子", "verified": false, "bot": false}, "text": "地震だ、みんな無事？", "emotext": "shake", "reply_to": null, "created_at": "2026-11-21T13:45:00.123Z"}}}',
    ),
    (
        "event.post.deleted",
        '{"op": "event", "seq": 5, "type": "post.deleted", "stream": "following", "pos": "01M7Z5SDXRFFMF22ZFR8QW5DAZ", "data": {"post_id": "01M7Z3MWDW88G9C4QTT0N7GYSQ", "author_id": "01M6DRNNTGEPJAGK15WSGG6CMW"}}',
    ),
    (
        "event.follow",
        '{"op": "event", "seq": 1, "type": "follow", "data": {"follower": {"id": "01M73K2V5R8ZX9CJ7PQTM4M82N", "handle": "taro_k", "display_name": "川口 太郎", "verified": false, "bot": false}, "followee": {"id": "01M6DRNNTGEPJAGK15WSGG6CMW", "handle": "hanako", "display_name": "山田 花子", "verified": false, "bot": false}}}',
    ),
    (
        "event.unfollow",
        '{"op": "event", "seq": 7, "type": "unfollow", "data": {"follower": {"id": "01M6DRNNTGEPJAGK15WSGG6CMW", "handle": "hanako", "display_name": "山田 花子", "verified": false, "bot": false}, "followee": {"id": "01M7F3H4YT1ASZ7K8AQB1GPXSP", "handle": "mika_s", "display_name": "Mika", "verified": false, "bot": false}}}',
    ),
    (
        "ready",
        '{"op": "ready", "user": {"id": "01M7F3H4YT1ASZ7K8AQB1GPXSP", "handle": "mika_s", "display_name": "Mika", "verified": false, "bot": false, "created_at": "2026-11-15T08:00:12.250Z", "followers_count": 0, "following_count": 1, "following": false, "followed_by": false}, "session_id": "01M7Z5XYT0C7PK6AMFYF7BGFZ2", "recovered": true, "replayed": 2}',
    ),
    (
        "event.post.created",
        '{"op": "event", "seq": 1, "type": "post.created", "stream": "following", "pos": "01M7Z5MSYV0S6E0ZYBTQ7CHG0W", "data": {"post": {"id": "01M7Z5MSYV0S6E0ZYBTQ7CHG0W", "author": {"id": "01M6DRNNTGEPJAGK15WSGG6CMW", "handle": "hanako", "display_name": "山田 花子", "verified": false, "bot": false}, "text": "地震だ、みんな無事？", "emotext": "shake", "reply_to": null, "created_at": "2026-11-21T13:45:00.123Z"}}}',
    ),
    (
        "event.post.deleted",
        '{"op": "event", "seq": 2, "type": "post.deleted", "stream": "following", "pos": "01M7Z5SDXRFFMF22ZFR8QW5DAZ", "data": {"post_id": "01M7Z3MWDW88G9C4QTT0N7GYSQ", "author_id": "01M6DRNNTGEPJAGK15WSGG6CMW"}}',
    ),
]
