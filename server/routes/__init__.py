"""HTTP route handlers, one file per area of the Scope API."""
