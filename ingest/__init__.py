"""From a zip of photos to a searchable Qdrant collection: read (`reader`, `images`), embed
(`encoder`), write (`store`, `media`), all driven by `pipeline`; `search` is the one query
path for the CLI (`cli`) and the page (`ui`)."""
