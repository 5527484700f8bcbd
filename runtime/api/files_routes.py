from __future__ import annotations

from flask import jsonify, request, send_file

from runtime.api import actor, api, store
from runtime.services import attachments
from runtime.services.errors import Invalid, NotFound


@api.post("/apps/<app>/files")
def upload_file(app):
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        raise Invalid([{"field": "file", "message": "send the file as multipart/form-data in a "
                        "part named 'file'"}])
    result = attachments.upload(store(), actor(), app, upload.filename, upload.stream,
                                upload.mimetype)
    return jsonify(result), 201


@api.get("/apps/<app>/files/<int:file_id>")
def download_file(app, file_id):
    path, row = attachments.open_download(store(), actor(), app, file_id)
    if not path.is_file():
        raise NotFound(f"file {file_id} is recorded but missing from the files folder; "
                       "restore it from a backup")
    # Served as a download with its recorded type; nosniff keeps browsers from running it.
    response = send_file(path, mimetype=row["content_type"], as_attachment=True,
                         download_name=row["name"], max_age=0)
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response
