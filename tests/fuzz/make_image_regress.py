"""Writes the hostile (and a few valid) JPEG and PNG files that tests/test_image_load.c and
tests/test_fuzz_regress.c replay: tests/fuzz/regress/jpeg/ and tests/fuzz/regress/png/, plus
tests/fuzz/regress/image_expect.txt ("FILE<TAB>decoded WxH PIXEL" or "FILE<TAB>refused:
FRAGMENT OF THE MESSAGE"). Every file is built here, byte by byte, from the JPEG (ITU T.81)
and PNG (ISO 15948) layouts: no photo is copied. Standard library only.
usage: python3 tests/fuzz/make_image_regress.py [OUTDIR]    (default tests/fuzz/regress)

The valid base JPEG is 16x8 gray, two 8x8 blocks, quantiser 8 everywhere, DC table {"0": 0,
"1": category 3}, AC table {"0": end of block}; block 1 has DC difference +5 and block 2
difference 0, so every pixel is 128 + 5 * 8 / 8 = 133 (a DC-only block is flat: its IDCT
is the DC coefficient / 8, plus the level shift of 128). The tables follow T.81 to the letter
(no all-ones code), so libjpeg decodes the valid files too: cv2.imread gives 133 as well."""
import os
import struct
import sys
import zlib


def seg(m, payload):
    return b"\xff" + bytes([m]) + struct.pack(">H", len(payload) + 2) + payload


def dqt(tid, q, sixteen=False):
    vals = q if isinstance(q, list) else [q] * 64
    if sixteen:
        return seg(0xDB, bytes([0x10 | tid]) + b"".join(struct.pack(">H", v) for v in vals))
    return seg(0xDB, bytes([tid]) + bytes(vals))


def dht(tc, th, counts, syms):
    counts = list(counts) + [0] * (16 - len(counts))
    return seg(0xC4, bytes([(tc << 4) | th]) + bytes(counts) + bytes(syms))


def sof(marker, w, h, comps, precision=8):
    p = struct.pack(">BHHB", precision, h, w, len(comps))
    for cid, hs, vs, tq in comps:
        p += bytes([cid, (hs << 4) | vs, tq])
    return seg(marker, p)


def sos(comps, ss=0, se=63, ah=0, al=0):
    p = bytes([len(comps)])
    for cid, td, ta in comps:
        p += bytes([cid, (td << 4) | ta])
    return seg(0xDA, p + bytes([ss, se, (ah << 4) | al]))


def entropy(bitstr):
    """Bits (a '0'/'1' string) to bytes: padded with 1s, 0xFF stuffed with 0x00."""
    bitstr += "1" * (-len(bitstr) % 8)
    out = bytearray()
    for i in range(0, len(bitstr), 8):
        b = int(bitstr[i:i + 8], 2)
        out.append(b)
        if b == 0xFF:
            out.append(0)
    return bytes(out)


SOI, EOI = b"\xff\xd8", b"\xff\xd9"
GRAY = [(1, 1, 1, 0)]
DC = dht(0, 0, [0, 2], [0, 3])       # "00": category 0, "01": category 3
AC = dht(1, 0, [1], [0x00])          # "0": end of block
BLOCK5, BLOCK0 = "01" + "101" + "0", "00" + "0"  # DC difference +5 then EOB; difference 0 then EOB
DATA = entropy(BLOCK5 + BLOCK0)


def jpeg(*parts):
    return SOI + b"".join(parts) + EOI


def jpegs():
    j = {}
    base_tables = dqt(0, 8) + DC + AC
    j["ok_base.jpg"] = (jpeg(base_tables, sof(0xC0, 16, 8, GRAY), sos([(1, 0, 0)]), DATA), "decoded 16x8 133")
    # restart interval 1: RST0 between the blocks, the predictor restarts at 0 (block 2: +5 again)
    j["ok_restart.jpg"] = (jpeg(base_tables, seg(0xDD, struct.pack(">H", 1)), sof(0xC0, 16, 8, GRAY), sos([(1, 0, 0)]),
                                entropy(BLOCK5), b"\xff\xd0", entropy(BLOCK5)), "decoded 16x8 133")
    # progressive: one DC-first scan only (AC coefficients stay 0)
    j["ok_progressive.jpg"] = (jpeg(dqt(0, 8), DC, sof(0xC2, 16, 8, GRAY), sos([(1, 0, 0)], 0, 0),
                                    entropy("01101" + "00")), "decoded 16x8 133")
    # the case: the first DHT declares 255 codes of every length (stb_image 2.27 writes
    # about 3.8 KB past huffman.size[257], into the decoder state)
    j["dht_255_every_length.jpg"] = (jpeg(dqt(0, 8), dht(0, 0, [255] * 16, [0] * 255), AC, sof(0xC0, 16, 8, GRAY),
                                          sos([(1, 0, 0)]), DATA), "refused: DHT declares 4080 Huffman codes, more than 256")
    # 257 codes that do satisfy the Kraft inequality (2 of length 15, 255 of length 16): only the
    # count of 256 catches it (stb_image: size[257] written)
    j["dht_257_codes.jpg"] = (jpeg(dqt(0, 8), DC, dht(1, 0, [0] * 14 + [2, 255], [0] * 257), sof(0xC0, 16, 8, GRAY),
                                   sos([(1, 0, 0)]), DATA), "refused: DHT declares 257 Huffman codes, more than 256")
    j["dht_kraft.jpg"] = (jpeg(dqt(0, 8), dht(0, 0, [3], [0, 3, 4]), AC, sof(0xC0, 16, 8, GRAY), sos([(1, 0, 0)]), DATA),
                          "refused: more Huffman codes of a length")
    j["dht_dc_symbol_16.jpg"] = (jpeg(dqt(0, 8), dht(0, 0, [0, 2], [0, 16]), AC, sof(0xC0, 16, 8, GRAY), sos([(1, 0, 0)]),
                                      DATA), "refused: DC Huffman symbol above 15")
    j["dht_truncated_symbols.jpg"] = (jpeg(dqt(0, 8), dht(0, 0, [0, 2], [0]), AC, sof(0xC0, 16, 8, GRAY), sos([(1, 0, 0)]),
                                           DATA), "refused: DHT segment ends inside a table's symbols")
    j["dht_table_id_4.jpg"] = (jpeg(dqt(0, 8), dht(0, 4, [0, 2], [0, 3]), AC, sof(0xC0, 16, 8, GRAY), sos([(1, 0, 0)]), DATA),
                               "refused: DHT names a table class above 1 or id above 3")
    # the scan names AC table 1, which no DHT defined (stb_image reads uninitialised tables)
    j["huffman_undefined.jpg"] = (jpeg(base_tables, sof(0xC0, 16, 8, GRAY), sos([(1, 0, 1)]), DATA),
                                  "refused: a scan uses a Huffman table no DHT defined")
    j["dqt_undefined.jpg"] = (jpeg(base_tables, sof(0xC0, 16, 8, [(1, 1, 1, 2)]), sos([(1, 0, 0)]), DATA),
                              "refused: quantisation table no DQT defined")
    j["dqt_precision_2.jpg"] = (jpeg(seg(0xDB, bytes([0x20]) + bytes(64)), DC, AC, sof(0xC0, 16, 8, GRAY),
                                     sos([(1, 0, 0)]), DATA), "refused: DQT precision")
    j["dqt_truncated.jpg"] = (jpeg(seg(0xDB, bytes([0]) + bytes(40)), DC, AC, sof(0xC0, 16, 8, GRAY), sos([(1, 0, 0)]),
                                   DATA), "refused: DQT segment ends inside a table")
    # three components, one scan codes only the first: the other two would be uninitialised memory
    comps3 = [(1, 1, 1, 0), (2, 1, 1, 0), (3, 1, 1, 0)]
    j["component_not_coded.jpg"] = (jpeg(base_tables, sof(0xC0, 16, 8, comps3), sos([(1, 0, 0)]), DATA),
                                     "refused: a component no scan codes")
    # DC differences of +32767 twice, quantiser 65535 (16-bit DQT): stb_image 2.27 computes
    # 65534 * 65535 in int (signed overflow)
    big = dht(0, 0, [1], [15])
    ones = "0" + "1" * 15 + "0"
    j["dc_overflow.jpg"] = (jpeg(dqt(0, 65535, True), big, AC, sof(0xC0, 16, 8, GRAY), sos([(1, 0, 0)]),
                                 entropy(ones + ones)), "refused: a DC coefficient out of range")
    # the data ends 7 bits into a 15-bit DC difference (the rest would be zeros past EOI)
    j["dc_cut_by_eoi.jpg"] = (jpeg(dqt(0, 8), big, AC, sof(0xC0, 16, 8, GRAY), sos([(1, 0, 0)]), b"\x7f"),
                              "refused: a scan's data ends before its last block")
    # the data (32 bits: DC, then one AC value of 14 bits) is used up exactly when stb_image
    # refills and meets EOI; its fast AC table then takes 9 bits that are not there (code_bits
    # -9) and the next refill shifts by 33: stb_image 2.27's unchecked fast path
    j["ac_fast_past_end.jpg"] = (jpeg(dqt(0, 1), dht(0, 0, [1], [15]), dht(1, 0, [0, 3], [0x07, 0x0E, 0x00]),
                                      sof(0xC0, 8, 8, GRAY), sos([(1, 0, 0)]), b"\x40\x00\x60\x00"),
                                 "refused: the entropy-coded data ends inside a block")
    # the scan's data (one byte, no padding) ends before block 2's end of block: stb_image would
    # read a zero past the marker
    j["scan_short.jpg"] = (jpeg(base_tables, sof(0xC0, 16, 8, GRAY), sos([(1, 0, 0)]), entropy(BLOCK5 + "00")),
                           "refused: a scan's data ends before its last block")
    # the frame claims 4096x4096 but carries 7 blocks (stb_image would decode 262137 more of zeros)
    j["size_without_data.jpg"] = (jpeg(base_tables, sof(0xC0, 4096, 4096, GRAY), sos([(1, 0, 0)]),
                                       entropy(BLOCK5 + BLOCK0 * 6)),
                                  "refused: a scan's data ends before its last block")
    j["too_large.jpg"] = (jpeg(base_tables, sof(0xC0, 30000, 8, GRAY), sos([(1, 0, 0)]), DATA),
                          "refused: 30000x8 is larger than 16384 pixels a side")
    j["width_0.jpg"] = (jpeg(base_tables, sof(0xC0, 0, 8, GRAY), sos([(1, 0, 0)]), DATA), "refused: width 0")
    j["height_0_dnl.jpg"] = (jpeg(base_tables, sof(0xC0, 16, 0, GRAY), sos([(1, 0, 0)]), DATA), "refused: DNL")
    j["components_2.jpg"] = (jpeg(base_tables, sof(0xC0, 16, 8, comps3[:2]), sos([(1, 0, 0)]), DATA),
                             "refused: component count other than 1, 3 or 4")
    j["sampling_5.jpg"] = (jpeg(base_tables, sof(0xC0, 16, 8, [(1, 5, 1, 0)]), sos([(1, 0, 0)]), DATA),
                           "refused: sampling factor outside 1..4")
    j["sampling_fractional.jpg"] = (jpeg(base_tables, sof(0xC0, 16, 8, [(1, 4, 1, 0), (2, 3, 1, 0), (3, 1, 1, 0)]),
                                         sos([(1, 0, 0), (2, 0, 0), (3, 0, 0)]), DATA), "refused: fractional chroma")
    j["precision_12.jpg"] = (jpeg(base_tables, sof(0xC0, 16, 8, GRAY, 12), sos([(1, 0, 0)]), DATA),
                             "refused: 12-bit samples")
    j["sof_length.jpg"] = (jpeg(base_tables, seg(0xC0, struct.pack(">BHHB", 8, 8, 16, 1) + bytes([1, 0x11, 0, 0])),
                                sos([(1, 0, 0)]), DATA), "refused: SOF length does not match")
    j["duplicate_component_id.jpg"] = (jpeg(base_tables, sof(0xC0, 16, 8, [(1, 1, 1, 0), (1, 1, 1, 0), (3, 1, 1, 0)]),
                                            sos([(1, 0, 0)]), DATA), "refused: two components with the same id")
    j["second_sof.jpg"] = (jpeg(base_tables, sof(0xC0, 16, 8, GRAY), sof(0xC0, 16, 8, GRAY), sos([(1, 0, 0)]), DATA),
                           "refused: a second frame header")
    j["lossless_sof3.jpg"] = (jpeg(base_tables, sof(0xC3, 16, 8, GRAY), sos([(1, 0, 0)]), DATA),
                              "refused: JPEG variant (lossless, hierarchical or arithmetic-coded)")
    j["arithmetic_sof9.jpg"] = (jpeg(base_tables, sof(0xC9, 16, 8, GRAY), sos([(1, 0, 0)]), DATA),
                                "refused: JPEG variant (lossless, hierarchical or arithmetic-coded)")
    j["sos_before_sof.jpg"] = (jpeg(base_tables, sos([(1, 0, 0)]), DATA, sof(0xC0, 16, 8, GRAY)),
                               "refused: a scan (SOS) before the frame header")
    j["sos_unknown_component.jpg"] = (jpeg(base_tables, sof(0xC0, 16, 8, GRAY), sos([(7, 0, 0)]), DATA),
                                      "refused: a scan names a component the frame lacks")
    j["sos_component_twice.jpg"] = (jpeg(base_tables, sof(0xC0, 16, 8, comps3), sos([(1, 0, 0), (1, 0, 0)]), DATA),
                                    "refused: a scan names a component twice")
    j["sos_length.jpg"] = (jpeg(base_tables, sof(0xC0, 16, 8, GRAY), seg(0xDA, bytes([1, 1, 0, 0, 63, 0, 0])), DATA),
                           "refused: SOS length does not match")
    j["baseline_progressive_params.jpg"] = (jpeg(base_tables, sof(0xC0, 16, 8, GRAY), sos([(1, 0, 0)], 1, 63), DATA),
                                            "refused: a baseline scan with progressive parameters")
    # progressive: an AC scan before any DC scan would refine coefficients never initialised
    j["progressive_ac_first.jpg"] = (jpeg(dqt(0, 8), DC, AC, sof(0xC2, 16, 8, GRAY), sos([(1, 0, 0)], 1, 63),
                                          entropy("00")), "refused: a progressive scan before its component's first DC scan")
    j["progressive_dc_and_ac.jpg"] = (jpeg(dqt(0, 8), DC, AC, sof(0xC2, 16, 8, GRAY), sos([(1, 0, 0)], 0, 63), DATA),
                                      "refused: mixes DC and AC")
    j["progressive_range.jpg"] = (jpeg(dqt(0, 8), DC, AC, sof(0xC2, 16, 8, GRAY), sos([(1, 0, 0)], 5, 2), DATA),
                                  "refused: progressive scan parameters out of range")
    j["dri_length.jpg"] = (jpeg(base_tables, seg(0xDD, b"\x00\x01\x00"), sof(0xC0, 16, 8, GRAY), sos([(1, 0, 0)]), DATA),
                           "refused: DRI length is not 4")
    j["rst_outside_scan.jpg"] = (jpeg(base_tables, b"\xff\xd3", sof(0xC0, 16, 8, GRAY), sos([(1, 0, 0)]), DATA),
                                 "refused: a restart marker outside a scan")
    j["unknown_marker.jpg"] = (jpeg(base_tables, b"\xff\x42\x00\x02", sof(0xC0, 16, 8, GRAY), sos([(1, 0, 0)]), DATA),
                               "refused: unknown marker 0xFF42")
    # 65 progressive AC scans (an EOB run each): stb_image would pass over every block 65 times
    ac_scan = sos([(1, 0, 0)], 1, 63) + entropy("0")
    j["scans_65.jpg"] = (jpeg(dqt(0, 8), DC, AC, sof(0xC2, 16, 8, GRAY), sos([(1, 0, 0)], 0, 0), entropy("01101" + "00"),
                              ac_scan * 64), "refused: JPEG with more than 64 scans")
    full = jpeg(base_tables, sof(0xC0, 16, 8, GRAY), sos([(1, 0, 0)]), DATA)
    j["no_eoi.jpg"] = (full[:-2], "refused: the file ends before its end-of-image marker")
    k = full.index(b"\xff\xc0")
    j["segment_past_end.jpg"] = (full[:k + 6], "refused: runs past the end of the file")
    j["only_soi.jpg"] = (SOI + b"\xff", "refused: truncated before its frame header")
    j["app_length_1.jpg"] = (SOI + b"\xff\xe0\x00\x01" + full[2:], "refused: a segment length below 2")
    return j


def chunk(t, d):
    return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xFFFFFFFF)


def png(w, h, depth=8, ctype=0, extra=b"", rows=None, ihdr=None, idat=True, iend=True, plte=None):
    ch = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}.get(ctype, 1)
    if rows is None:
        rows = b"".join(b"\0" + bytes([(40 + 10 * x + y) & 255 for x in range(w * ch)]) for y in range(h)) \
            if depth == 8 else b""
    out = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr or struct.pack(">IIBBBBB", w, h, depth, ctype, 0, 0, 0)) + extra
    if plte is not None:
        out += chunk(b"PLTE", plte)
    if idat:
        out += chunk(b"IDAT", zlib.compress(rows))
    return out + (chunk(b"IEND", b"") if iend else b"")


def pngs():
    p = {}
    # 3x2 gray: pixel (x, y) = 40 + 10x + y; the first is 40
    p["ok_gray.png"] = (png(3, 2), "decoded 3x2 40")
    p["ok_palette.png"] = (png(2, 1, 8, 3, plte=bytes([7, 8, 9, 1, 2, 3]), rows=b"\0\0\1"), "decoded 2x1 7")
    p["too_large.png"] = (png(30000, 30000, rows=b""), "refused: 30000x30000 is larger than 16384 pixels a side")
    p["width_0.png"] = (png(0, 1, rows=b""), "refused: width or height 0")
    p["depth_3.png"] = (png(2, 2, 3, 0, rows=b""), "refused: a bit depth not allowed for its colour type")
    p["rgb_depth_4.png"] = (png(2, 2, 4, 2, rows=b""), "refused: a bit depth not allowed for its colour type")
    p["colour_type_5.png"] = (png(2, 2, 8, 5, rows=b""), "refused: a bit depth not allowed for its colour type")
    p["interlace_2.png"] = (png(2, 2, ihdr=struct.pack(">IIBBBBB", 2, 2, 8, 0, 0, 0, 2)),
                            "refused: unknown compression, filter or interlace method")
    p["ihdr_short.png"] = (png(2, 2, ihdr=struct.pack(">IIBBBB", 2, 2, 8, 0, 0, 0)), "refused: 13-byte IHDR")
    p["no_idat.png"] = (png(3, 2, idat=False), "refused: no image data")
    # an empty IDAT first (found by fuzz_png): stb_image 2.27 copies 0 bytes to NULL + 0 (UB)
    p["idat_empty_first.png"] = (png(3, 2, extra=chunk(b"IDAT", b"")), "refused: an empty IDAT chunk before any image data")
    p["no_iend.png"] = (png(3, 2, iend=False), "refused: truncated (no IEND chunk)")
    good = png(3, 2)
    p["chunk_past_end.png"] = (good[:50], "refused: a chunk runs past the end of the file")
    p["chunk_length_2g.png"] = (good[:33] + struct.pack(">I", 0x80000000) + good[37:],
                                "refused: a chunk runs past the end of the file")
    p["palette_4_bytes.png"] = (png(2, 1, 8, 3, plte=bytes(4), rows=b"\0\0\1"), "refused: a palette of a size")
    p["palette_missing.png"] = (png(2, 1, 8, 3, rows=b"\0\0\1"), "refused: palette image data before its PLTE chunk")
    p["cgbi.png"] = (b"\x89PNG\r\n\x1a\n" + chunk(b"CgBI", b"\0\0\0\0") + good[8:], "refused: Apple CgBI")
    p["unknown_critical_chunk.png"] = (png(3, 2, extra=chunk(b"ABCD", b"x")), "refused: an unknown critical chunk")
    p["second_ihdr.png"] = (png(3, 2, extra=chunk(b"IHDR", struct.pack(">IIBBBBB", 3, 2, 8, 0, 0, 0, 0))),
                            "refused: a second IHDR")
    p["not_an_image.png"] = (b"GIF89a" + bytes(20), "refused: not a JPEG or PNG image")
    return p


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(os.path.abspath(__file__)), "regress")
    lines = []
    for sub, files in (("jpeg", jpegs()), ("png", pngs())):
        d = os.path.join(out, sub)
        os.makedirs(d, exist_ok=True)
        for name, (data, expect) in sorted(files.items()):
            with open(os.path.join(d, name), "wb") as f:
                f.write(data)
            lines.append("%s/%s\t%s" % (sub, name, expect))
    with open(os.path.join(out, "image_expect.txt"), "w") as f:
        f.write("# written by tests/fuzz/make_image_regress.py; read by tests/test_image_load.c\n")
        f.write("\n".join(lines) + "\n")
    print("make_image_regress: %d files under %s" % (len(lines), out))


main()
