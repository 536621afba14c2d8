"""The "Import people" forms: the CSV upload (WTForms ``FileField``, size-limited) and the confirmation."""

from __future__ import annotations

from flask_babel import lazy_gettext
from flask_wtf.file import FileField, FileRequired, FileSize

from controller.store.people_import import MAX_FILE_BYTES
from webadmin.forms import KunciForm
from webadmin.forms.fields import Text


class ImportUploadForm(KunciForm):
    """A CSV file of people (columns of :mod:`controller.store.people_import`), at most ``MAX_FILE_BYTES``."""

    file = FileField(lazy_gettext("CSV file"), validators=[
        FileRequired(lazy_gettext("Choose a CSV file.")),
        FileSize(max_size=MAX_FILE_BYTES, message=lazy_gettext("The file is larger than %(size)s MiB; split it.",
                                                               size=MAX_FILE_BYTES // (1024 * 1024))),
    ])


class ImportConfirmForm(KunciForm):
    """The checked import to run (the key the check step gave)."""

    key = Text(lazy_gettext("Import"), max_length=64, required=True)
