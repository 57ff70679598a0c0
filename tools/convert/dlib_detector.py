"""dlib_detector: dlib's frontal face detector -> a facenet.h detector blob (kind 1).

Python standard library only. dlib ships its HOG face detector inside a C++ header,
image_processing/frontal_face_detector.h, as one long base64 string. Getting the numbers out
takes three steps, each written here from the description of dlib's formats:

  1. base64 -> compressed bytes.
  2. Decompress dlib's compress_stream "kernel_1ea": an order-4 PPM context model (escape
     method D, Moffat 1990, with Shkarin's information inheritance), driving a 32-bit range
     decoder. Every 20000 symbols the stream carries a check value; after the end symbol
     (256) comes a CRC-32 of the output, which we verify.
  3. Parse dlib's serialization of object_detector<scan_fhog_pyramid<pyramid_down<6>>>:
     version, the scanner's configuration (cell size, padding, window, pyramid limits), the
     box-overlap tester (the two NMS thresholds) and one weight vector per filter:
     31 planes x (rows x cols) HOG weights, plane-major, followed by the threshold (bias).

The blob stores, per filter i: tensor "filter<i>" f32 shape (rows, cols, 31) (row-major,
the 31 fHOG features of a cell last) and tensor "thresholds" f32 (n_filters). The exact
doubles (thresholds and NMS thresholds) are kept as metadata strings (repr, round-trip exact).
"""

import base64
import binascii
import math
import re

import fnet_blob

# ---------------------------------------------------------------------------------------
# 1-2. Range decoder and PPM model (dlib entropy_decoder_kernel_2 + entropy_decoder_model
#      kernel_5<257, ., 200000, 4>)
# ---------------------------------------------------------------------------------------

M32 = 0xFFFFFFFF
M16 = 0xFFFF


class _RangeDecoder:
    """32-bit range decoder: low/high/target are fractions in [0,1) with the point before
    bit 31; 8 bits are shifted in whenever low and high agree in their top byte."""

    def __init__(self, data):
        self.data = data
        self.pos = 0
        self.low = 1
        self.high = M32
        self.r = 0
        t = 0
        for _ in range(4):
            t = (t << 8) | self._byte()
        self.target = t

    def _byte(self):
        if self.pos < len(self.data):
            b = self.data[self.pos]
            self.pos += 1
            return b
        return 0

    def get_target(self, total):
        self.r = ((self.high - self.low + 1) & M32) // total
        if self.r == 0:
            raise ValueError("range decoder: corrupt stream (zero range)")
        t = ((self.target - self.low) & M32) // self.r
        return t if t < total else total - 1

    def decode(self, lo, hi):
        r = self.r
        low = self.low
        high = (low + r * hi - 1) & M32
        low = (low + r * lo) & M32
        self.r = 0
        while True:
            if (high & 0xFF000000) != (low & 0xFF000000):
                d = (high - low) & M32
                if d < 0x10000:
                    high >>= 1
                    low >>= 1
                    high = low = (high + low) & M32
                    if d > 0x1000:
                        high = (high + 0xFF) & M32
                        low = (low - 0xFF) & M32
                else:
                    break
            else:
                self.target = ((self.target << 8) & M32) | self._byte()
                high = ((high << 8) & M32) | 0xFF
                low = (low << 8) & M32
                if low == 0:
                    low = 1
        self.low, self.high = low, high


class _PPM:
    """Order-4 PPM over 257 symbols, nodes in parallel lists (index 0 is the root, -1 null).
    A node is a symbol seen in a context: next (sibling), child (the contexts one symbol
    longer), parent (the same context one symbol shorter), symbol, count, total, escapes.
    Counts are 16-bit as in dlib, and wrap the same way."""

    ALPHABET = 257
    TOTAL_NODES = 200000
    ORDER = 4

    def __init__(self, coder):
        self.coder = coder
        n = self.TOTAL_NODES
        self.nxt = [-1] * n
        self.child = [-1] * n
        self.parent = [-1] * n
        self.sym = [0] * n
        self.count = [0] * n
        self.total = [0] * n
        self.esc = [0] * n
        self.clear()

    def clear(self):
        self.next_node = 1
        self.child[0] = -1
        self.esc[0] = 0
        self.total[0] = 0
        self.nxt[0] = -1
        self.parent[0] = -1
        self.cur = 0
        self.cur_order = 0
        self.stack = []
        self.exc = set()

    def _alloc(self, below):
        """A new node, made the parent of `below` unless that is -1: the nodes one decoded
        symbol adds form a chain upwards, each the parent of the one before."""
        i = self.next_node
        self.next_node += 1
        if below != -1:
            self.parent[below] = i
        return i

    def _scale(self, t):
        cnt, nxt = self.count, self.nxt
        if self.esc[t] > 1:
            self.esc[t] >>= 1
        tot = self.esc[t]
        n = self.child[t]
        while n != -1:
            if cnt[n] > 1:
                cnt[n] >>= 1
            tot += cnt[n]
            n = nxt[n]
        self.total[t] = tot & M16

    def decode(self):
        coder = self.coder
        nxt, child, parent, sym, cnt, total, esc = (self.nxt, self.child, self.parent, self.sym,
                                                    self.count, self.total, self.esc)
        temp = self.cur
        self.cur = -1
        new_node = -1
        local_order = self.cur_order
        exc = self.exc
        if exc:
            exc = self.exc = set()
        c = t = 0
        while True:
            high_count = 0
            if self.next_node < self.TOTAL_NODES:
                total_count = total[temp]
                if total_count > 0:
                    if total_count > 10000:
                        self._scale(temp)
                        total_count = total[temp]
                    if exc:
                        n = child[temp]
                        total_count = esc[temp]
                        while True:
                            if sym[n] not in exc:
                                total_count += cnt[n]
                            if nxt[n] == -1:
                                break
                            n = nxt[n]
                    target = coder.get_target(total_count)
                    n = child[temp]
                    last = -1
                    while True:
                        s = sym[n]
                        if s not in exc:
                            high_count += cnt[n]
                            exc.add(s)
                        if high_count > target or nxt[n] == -1:
                            break
                        last = n
                        n = nxt[n]
                    if high_count > target:
                        low_count = high_count - cnt[n]
                        if new_node != -1:
                            parent[new_node] = n
                        symbol = sym[n]
                        coder.decode(low_count, high_count)
                        cnt[n] = (cnt[n] + 8) & M16
                        c = cnt[n]
                        total[temp] = (total[temp] + 8) & M16
                        t = total[temp]
                        if last != -1:  # move to front
                            nxt[last] = nxt[n]
                            nxt[n] = child[temp]
                            child[temp] = n
                        if self.cur == -1:
                            if local_order < self.ORDER:
                                self.cur_order = local_order + 1
                                self.cur = n
                            else:
                                self.cur = parent[n]
                                self.cur_order = local_order
                        break
                    else:
                        new_node = self._alloc(new_node)
                        nxt[n] = new_node
                        coder.decode(high_count, total_count)
                else:
                    new_node = self._alloc(new_node)
                    child[temp] = new_node
                if self.cur == -1 and local_order < self.ORDER:
                    self.cur = new_node
                    self.cur_order = local_order + 1
                child[new_node] = -1
                esc[new_node] = 0
                nxt[new_node] = -1
                self.stack.append((new_node, temp))
                total[new_node] = 0
                if temp != 0:
                    temp = parent[temp]
                    local_order -= 1
                    continue
                # escaped down to order -1: a uniform choice among all symbols
                t = 2056
                c = 8
                target = coder.get_target(self.ALPHABET)
                parent[new_node] = 0
                coder.decode(target, target + 1)
                symbol = target
                if self.cur == -1:
                    self.cur = 0
                    self.cur_order = 0
                break
            else:  # out of nodes: start the model afresh
                self.clear()
                exc = self.exc
                temp = self.cur
                local_order = self.cur_order
                self.cur = -1
                new_node = -1
        # add the symbol to every context that escaped (information inheritance)
        stack = self.stack
        while stack:
            n, nc = stack.pop()
            sym[n] = symbol
            if total[nc]:
                temp2 = (t - c + total[nc] - esc[nc] - esc[nc]) & 0xFFFFFFFFFFFFFFFF
                v = total[nc] * c // (temp2 | 1) + 2
                if v > 50000:
                    v = 50000
                cnt[n] = v & M16
                esc[nc] = (esc[nc] + 4) & M16
                total[nc] = (total[nc] + (v & M16) + 4) & M16
            else:
                cnt[n] = (3 + 5 * c // (t - c)) & M16
                esc[nc] = 4
                total[nc] = (cnt[n] + 4) & M16
            while total[nc] > 10000:
                self._scale(nc)
        return symbol


def decompress_kernel_1ea(data):
    """dlib::compress_stream::kernel_1ea decompress; returns bytes (CRC-checked)."""
    coder = _RangeDecoder(data)
    model = _PPM(coder)
    out = bytearray()
    count = 0
    while True:
        if count == 20000:
            if coder.get_target(8000) != 1500:
                raise ValueError("dlib compressed stream: check value missing (corrupt data)")
            count = 0
            coder.decode(1500, 1501)
        count += 1
        s = model.decode()
        if s != 256:
            out.append(s)
            if len(out) > (64 << 20):
                raise ValueError("dlib compressed stream: output too large (corrupt data)")
            continue
        crc = 0
        for _ in range(4):
            crc = (crc << 8) | (model.decode() & 0xFF)
        if crc != (binascii.crc32(bytes(out)) & M32):
            raise ValueError("dlib compressed stream: CRC mismatch (corrupt data)")
        return bytes(out)


# ---------------------------------------------------------------------------------------
# 3. dlib serialization
# ---------------------------------------------------------------------------------------

class _Reader:
    def __init__(self, data):
        self.d = data
        self.p = 0

    def byte(self):
        if self.p >= len(self.d):
            raise ValueError("dlib serialization: unexpected end of data")
        b = self.d[self.p]
        self.p += 1
        return b

    def int(self, signed=True):
        """dlib's integer: a control byte (size in the low 4 bits, 0x80 = negative) and
        that many little-endian bytes of the magnitude."""
        ctl = self.byte()
        neg = bool(ctl & 0x80)
        size = ctl & 0x0F
        if size == 0 or size > 8:
            raise ValueError("dlib serialization: bad integer size %d" % size)
        v = 0
        for i in range(size):
            v |= self.byte() << (8 * i)
        if neg:
            if not signed:
                raise ValueError("dlib serialization: negative unsigned integer")
            v = -v
        return v

    def double(self):
        """dlib's float_details: int64 mantissa and int16 exponent, value = m * 2^e."""
        if self.p < len(self.d) and (self.d[self.p] & 0x70) != 0:
            raise ValueError("dlib serialization: old ASCII float format is not supported")
        m = self.int()
        e = self.int()
        if e == 32000:
            return math.inf
        if e == 32001:
            return -math.inf
        if e == 32002:
            return math.nan
        return math.ldexp(float(m), e)


def parse_detector(raw):
    """Parse the decompressed bytes into a dict with the scanner configuration, NMS
    thresholds and the weight vectors (lists of doubles, dlib's order)."""
    r = _Reader(raw)
    version = r.int()
    if version != 2:
        raise ValueError("object_detector version %d (expected 2)" % version)
    if r.int() != 1:
        raise ValueError("scan_fhog_pyramid version is not 1")
    # default_fhog_feature_extractor: nothing serialized. feats: dlib::array (max_size, size)
    r.int(False)
    nfeats = r.int(False)
    if nfeats != 0:
        raise ValueError("serialized feature pyramid is not empty (%d levels)" % nfeats)
    cfg = {}
    for k in ("cell_size", "padding", "window_width", "window_height", "max_pyramid_levels",
              "min_pyramid_layer_width", "min_pyramid_layer_height"):
        cfg[k] = r.int(False)
    cfg["nuclear_norm_regularization_strength"] = r.double()
    cfg["num_dimensions"] = r.int()
    cfg["iou_thresh"] = r.double()
    cfg["percent_covered_thresh"] = r.double()
    nw = r.int(False)
    if not 1 <= nw <= 64:
        raise ValueError("unexpected number of filters %d" % nw)
    ws = []
    for _ in range(nw):
        nr, nc = r.int(), r.int()
        nr, nc = abs(nr), abs(nc)
        if nc != 1 or nr != cfg["num_dimensions"] + 1:
            raise ValueError("weight vector of %dx%d, expected %dx1" % (nr, nc, cfg["num_dimensions"] + 1))
        ws.append([r.double() for _ in range(nr)])
    if r.p != len(raw):
        raise ValueError("%d unexpected bytes after the detector" % (len(raw) - r.p))
    cfg["weights"] = ws
    return cfg


def decode_header(path):
    """Extract the base64 text of the `sout << "...";` lines and decode it."""
    with open(path, "r", encoding="latin-1") as f:
        text = f.read()
    parts = re.findall(r'sout\s*<<\s*"([^"]*)"\s*;', text)
    if not parts:
        raise ValueError("no serialized detector (sout << \"...\") found in %s" % path)
    try:
        return base64.b64decode("".join(parts), validate=True)
    except (binascii.Error, ValueError) as e:
        raise ValueError("bad base64 in %s: %s" % (path, e))


def load(path):
    cfg = parse_detector(decompress_kernel_1ea(decode_header(path)))
    return cfg


def detector_blob(path):
    cfg = load(path)
    cs = cfg["cell_size"]
    if cs != 8 or cfg["window_width"] % cs or cfg["window_height"] % cs:
        raise ValueError("unsupported detector: cell size %d, window %dx%d"
                         % (cs, cfg["window_width"], cfg["window_height"]))
    rows = cfg["window_height"] // cs + 2 * cfg["padding"]
    cols = cfg["window_width"] // cs + 2 * cfg["padding"]
    planes = 31
    if cfg["num_dimensions"] != rows * cols * planes:
        raise ValueError("num_dimensions %d != %d*%d*31" % (cfg["num_dimensions"], rows, cols))
    b = fnet_blob.Blob(fnet_blob.KIND_DETECTOR)
    b.meta("source", "dlib frontal_face_detector.h (object_detector<scan_fhog_pyramid<pyramid_down<6>>>)")
    b.meta("license", "Boost Software License 1.0 (dlib, Davis E. King)")
    b.meta("cell_size", cs)
    b.meta("padding", cfg["padding"])
    b.meta("window_width", cfg["window_width"])
    b.meta("window_height", cfg["window_height"])
    b.meta("filter_rows", rows)
    b.meta("filter_cols", cols)
    b.meta("pyramid_down", 6)
    b.meta("max_pyramid_levels", cfg["max_pyramid_levels"])
    b.meta("min_pyramid_layer_width", cfg["min_pyramid_layer_width"])
    b.meta("min_pyramid_layer_height", cfg["min_pyramid_layer_height"])
    b.meta("iou_thresh", repr(cfg["iou_thresh"]))
    b.meta("percent_covered_thresh", repr(cfg["percent_covered_thresh"]))
    b.meta("num_filters", len(cfg["weights"]))
    size = rows * cols
    thr = []
    for i, w in enumerate(cfg["weights"]):
        # dlib: plane k occupies w[k*size:(k+1)*size], row-major (rows x cols).
        vals = [w[k * size + rc] for rc in range(size) for k in range(planes)]
        b.tensor("filter%d" % i, "f32", (rows, cols, planes), vals)
        thr.append(w[-1])
        b.meta("threshold%d" % i, repr(w[-1]))
    b.tensor("thresholds", "f32", (len(thr),), thr)
    return b


if __name__ == "__main__":
    import sys
    c = load(sys.argv[1] if len(sys.argv) > 1 else
             "/usr/include/dlib/image_processing/frontal_face_detector.h")
    for k, v in c.items():
        if k != "weights":
            print(k, v)
    for i, w in enumerate(c["weights"]):
        print("filter %d: sum %.17g threshold %.17g" % (i, math.fsum(w[:-1]), w[-1]))
