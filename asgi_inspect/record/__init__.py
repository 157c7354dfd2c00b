"""What runs in the app's process: the recording middleware, its batches, and the sinks they
go to. Nothing here imports the inspector's side (store, formats, views)."""
