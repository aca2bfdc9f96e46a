-- 0016: the operator's "during a disaster" page (issue 19, PROTOCOL.md 11.15), by name so that
-- another operator page needs no new table. Its Markdown source as written; the HTML is rendered
-- by the server when read. No row: the built-in default is shown. (0015 is another change's.)
CREATE TABLE pages (
    name TEXT PRIMARY KEY,
    markdown TEXT NOT NULL,
    updated_ms INTEGER NOT NULL
) WITHOUT ROWID;
