"""The one run lifecycle: folder, identity, resume, payload, session, checkpoints, tracking."""
