"""Cheap data checks shared by every stack (headers.py): files exist and hold the named columns."""
