"""Reading and writing galaxy images and crowd-label files."""
