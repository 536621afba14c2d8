"""The "Import people" forms: the CSV upload (WTForms ``FileField``, size-limited) and the confirmation."""

from __future__ import annotations

from flask_wtf.file import FileField, FileRequired, FileSize

from controller.store.people_import import MAX_FILE_BYTES
from webadmin.forms import KunciForm
from webadmin.forms.fields import Text


class ImportUploadForm(KunciForm):
    """A CSV file of people (columns of :mod:`controller.store.people_import`), at most ``MAX_FILE_BYTES``."""

    file = FileField("CSV file", validators=[
        FileRequired("Choose a CSV file."),
        FileSize(max_size=MAX_FILE_BYTES, message=f"The file is larger than {MAX_FILE_BYTES // (1024 * 1024)} MiB; "
                                                   "split it."),
    ])


class ImportConfirmForm(KunciForm):
    """The checked import to run (the key the check step gave)."""

    key = Text("Import", max_length=64, required=True)
