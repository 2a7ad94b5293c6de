"""The ground floor: errors, canonical JSON and hashing, files, text, the workspace, the
content-addressed artifact store, strict config IO, the HTML renderer and charts.
"""
