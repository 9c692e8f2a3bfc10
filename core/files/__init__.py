"""What the app does with files: uploads, archives, previews, downloads, outputs."""
