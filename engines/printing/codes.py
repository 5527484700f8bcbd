"""Barcodes (Code 128) and QR codes as inline SVG, for print templates: no image files,
no fonts to install, sharp at any printer resolution."""

from __future__ import annotations

import io

import barcode
import segno
from barcode.writer import SVGWriter
from markupsafe import Markup


def barcode_svg(value, *, height_mm: float = 12, text: bool = True) -> Markup:
    """A Code 128 barcode of ``value`` (what scanners at the dock read)."""
    value = "" if value is None else str(value)
    if not value:
        return Markup("")
    if not value.isascii():
        raise ValueError(f"barcode({value!r}): a Code 128 barcode holds letters, digits and "
                         "signs only; print the number or code, or use qrcode() for text")
    out = io.BytesIO()
    code = barcode.get("code128", value, writer=SVGWriter())
    code.write(out, options={"module_height": float(height_mm), "module_width": 0.33,
                             "write_text": text,
                             "quiet_zone": 2.0, "font_size": 8, "text_distance": 3})
    return Markup(_inline(out.getvalue().decode("utf-8")))


def qrcode_svg(value, *, scale: int = 3) -> Markup:
    """A QR code of ``value`` (a URL, a lot number, a serial)."""
    value = "" if value is None else str(value)
    if not value:
        return Markup("")
    out = io.BytesIO()
    # A full QR code, never a Micro QR (segno's choice for short data), which most
    # phone scanners do not read.
    code = segno.make_qr(value, error="m")
    # A viewBox (omitsize) lets a template size the code with CSS and keep it whole.
    code.save(out, kind="svg", scale=int(scale), xmldecl=False, svgns=True, nl=False,
              omitsize=True)
    width, height = code.symbol_size(scale=int(scale))
    svg = _inline(out.getvalue().decode("utf-8"))
    return Markup(svg.replace("<svg ", f'<svg width="{width}" height="{height}" ', 1))


def _inline(svg: str) -> str:
    """SVG to put inside HTML: without the XML declaration and doctype."""
    start = svg.find("<svg")
    return svg[start:] if start >= 0 else svg
