"""`ingest watch FOLDER`: a collection kept in step with a folder while it runs.

`folder` sees the files (a scan, what a file is), `trigger` says when to look (file-system
events, or polling), `state` remembers what each file was, `watcher` brings the collection in
step: new and changed photos loaded with the collection's model, deleted ones forgotten, moved
ones followed.
"""
