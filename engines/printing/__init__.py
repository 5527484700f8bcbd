"""Print templates: Jinja2 in its sandbox, with barcodes and QR codes as inline SVG.

A print template is a file ``prints/<key>.html.j2`` whose first line says which form it
prints and what it is called::

    {# loom: {"form": "receipts", "label": {"zh": "入库单", "en": "Goods receipt"}} #}
    <h1>入库单 {{ record.receipt_no }}</h1> {{ barcode(record.receipt_no) }}

``parse_print`` checks the header and compiles the template (syntax errors carry their
line); ``render_print`` renders it in an immutable sandbox, so a template can read the
values it is given and nothing else. See docs/printing.md.
"""

from engines.printing.codes import barcode_svg, qrcode_svg
from engines.printing.templates import PrintError, PrintTemplate, parse_print, render_print

__all__ = ["PrintError", "PrintTemplate", "barcode_svg", "parse_print", "qrcode_svg",
           "render_print"]
