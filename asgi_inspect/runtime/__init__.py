"""Running a session: the server child process, the session the views look at, and the
headless printer."""
