"""Reading the NAS-Bench-101 table (``nasbench_only108.tfrecord`` / ``nasbench_full.tfrecord``).

zcpt bundles no NAS-Bench-101 data; a user who has the file passes it to
``zcpt query --space nb1shot1-s1 --benchmark-data PATH``. The file is a
TFRecord stream (per record: a little-endian uint64 length, a 4-byte CRC, the
data, a 4-byte CRC); each record's data is the JSON list
``[module_hash, epochs, adjacency (0/1 digits), ops (comma-separated),
metrics]`` where ``metrics`` is a base64 ``ModelMetrics`` protobuf
(nasbench/lib/model_metrics.proto): field 1 ``evaluation_data`` (repeated:
1 current_epoch, 2 training_time, 3 train_accuracy, 4 validation_accuracy,
5 test_accuracy, all doubles; 6 checkpoint_path), field 2
``trainable_parameters``, field 3 ``total_time``. ``evaluation_data[2]`` is the
end of training, ``[1]`` its half-way point (as NAS-Bench-101's API reads it).

Both are read here without TensorFlow or protobuf: a record is decoded only
when its hash is the one asked for. CRCs are not checked; a damaged record
is reported as a one-line error naming the file.
"""
from __future__ import annotations

import base64
import os
import struct
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Tuple, Union

from ..errors import DataError, ZcptError, one_line
from ..files import parse_json

PathLike = Union[str, Path]
_EVAL_FIELDS = {1: "current_epoch", 2: "training_time", 3: "train_accuracy",
                4: "validation_accuracy", 5: "test_accuracy"}


def records(path: PathLike) -> Iterator[bytes]:
    """The data of every record of a TFRecord file. A record longer than what is left
    of the file is a one-line error before anything is read (a damaged length field
    must not make zcpt allocate up to 2**64 bytes)."""
    p = Path(path)
    try:
        fh = open(p, "rb")
        size = os.fstat(fh.fileno()).st_size
    except OSError as exc:
        raise DataError(f"cannot read NAS-Bench-101 table {p}: {exc.strerror or exc}") from None
    with fh:
        while True:
            try:
                head = fh.read(12)
                if not head:
                    return
                if len(head) < 12:
                    raise DataError(f"truncated NAS-Bench-101 table {p}: a record header is cut off")
                (length,) = struct.unpack("<Q", head[:8])
                left = size - fh.tell() - 4
                if length > left:
                    raise DataError(f"truncated NAS-Bench-101 table {p} (or no TFRecord file): the record at byte "
                                    f"{fh.tell() - 12} claims {length} bytes, {max(left, 0)} are left")
                data = fh.read(length)
                if len(data) < length or len(fh.read(4)) < 4:
                    raise DataError(f"truncated NAS-Bench-101 table {p}: a record is cut off")
            except OSError as exc:
                raise DataError(f"cannot read NAS-Bench-101 table {p}: {exc.strerror or exc}") from None
            yield data


def _varint(buf: bytes, pos: int) -> Tuple[int, int]:
    value, shift = 0, 0
    while True:
        if pos >= len(buf):
            raise ValueError("truncated varint")
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7


def protobuf_fields(buf: bytes) -> List[Tuple[int, Any]]:
    """``(field number, value)`` of a serialized protobuf message: varints as ints,
    64-bit fields as doubles, length-delimited fields as bytes, 32-bit as floats."""
    out: List[Tuple[int, Any]] = []
    pos = 0
    while pos < len(buf):
        key, pos = _varint(buf, pos)
        field, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(buf, pos)
        elif wire == 1:
            (value,) = struct.unpack("<d", buf[pos:pos + 8])
            pos += 8
        elif wire == 2:
            length, pos = _varint(buf, pos)
            value = buf[pos:pos + length]
            if len(value) < length:
                raise ValueError("truncated field")
            pos += length
        elif wire == 5:
            (value,) = struct.unpack("<f", buf[pos:pos + 4])
            pos += 4
        else:
            raise ValueError(f"unsupported wire type {wire}")
        out.append((field, value))
    return out


def decode_metrics(raw: bytes) -> Dict[str, Any]:
    """A ``ModelMetrics`` message as a dict (``evaluation_data`` a list of dicts)."""
    metrics: Dict[str, Any] = {"evaluation_data": [], "trainable_parameters": 0, "total_time": 0.0}
    for field, value in protobuf_fields(raw):
        if field == 1:
            evaluation = {_EVAL_FIELDS[f]: v for f, v in protobuf_fields(value) if f in _EVAL_FIELDS}
            metrics["evaluation_data"].append(evaluation)
        elif field == 2:
            metrics["trainable_parameters"] = int(value)
        elif field == 3:
            metrics["total_time"] = float(value)
    return metrics


def _decode_record(data: bytes, module_hash: str) -> Optional[Tuple[Dict[str, Any], int, Dict[str, float]]]:
    """``(cell facts, epochs, one run)`` of a record of ``module_hash``, None for another
    hash; any damage raises (a ValueError, TypeError, ...) for the caller to report."""
    found, epochs, adjacency, ops, raw = parse_json(data, "a NAS-Bench-101 record")
    if found != module_hash:
        return None
    if not isinstance(adjacency, str) or not isinstance(ops, str) or not isinstance(epochs, int):
        raise TypeError("adjacency and ops must be strings, epochs an integer")
    metrics = decode_metrics(base64.b64decode(raw))
    final = metrics["evaluation_data"][2]
    dim = int(round(len(adjacency) ** 0.5))
    if dim * dim != len(adjacency):
        raise ValueError(f"an adjacency of {len(adjacency)} digits is no square matrix")
    fixed = {"nb101_adjacency": [[int(adjacency[r * dim + c]) for c in range(dim)] for r in range(dim)],
             "nb101_operations": ops.split(","),
             "nb101_trainable_parameters": metrics["trainable_parameters"]}
    run = {"test_accuracy": 100.0 * float(final.get("test_accuracy", float("nan"))),
           "validation_accuracy": 100.0 * float(final.get("validation_accuracy", float("nan"))),
           "training_time": float(final.get("training_time", float("nan")))}
    return fixed, epochs, run


def lookup(path: PathLike, module_hash: str) -> Dict[str, Any]:
    """NAS-Bench-101's record of one cell hash: per trained epoch count, the mean final
    test / validation accuracy (%) of its runs, and the runs themselves."""
    key = module_hash.encode("ascii")
    runs: Dict[int, List[Dict[str, float]]] = {}
    fixed: Dict[str, Any] = {}
    for data in records(path):
        if key not in data[:64]:
            continue
        try:
            decoded = _decode_record(data, module_hash)
        except (DataError, ValueError, TypeError, IndexError, KeyError, AttributeError, OverflowError,
                struct.error) as exc:  # ValueError: also binascii's errors
            raise DataError(f"corrupt NAS-Bench-101 record for {module_hash} in {path}: {one_line(exc)}") from None
        if decoded is None:
            continue
        fixed, epochs, run = decoded
        runs.setdefault(epochs, []).append(run)
    if not runs:
        raise DataError(f"cell hash {module_hash} is not in the NAS-Bench-101 table {path}")
    record: Dict[str, Any] = dict(fixed)
    for epochs, values in sorted(runs.items()):
        prefix = f"nb101_{epochs}ep"
        record[f"{prefix}_test_accuracy"] = sum(v["test_accuracy"] for v in values) / len(values)
        record[f"{prefix}_validation_accuracy"] = sum(v["validation_accuracy"] for v in values) / len(values)
        record[f"{prefix}_runs"] = values
    return record


def user_table_record(space: Any, genotype: Any, path: PathLike) -> Dict[str, Any]:
    """``zcpt query --benchmark-data``: the record of ``genotype`` in a table the user
    supplies, for spaces that declare ``user_benchmark = "nb101"`` (NAS-Bench-1Shot1)."""
    if getattr(space, "user_benchmark", None) != "nb101":
        raise ZcptError(f"space '{space.name}' reads no user-supplied benchmark table")
    return lookup(path, space.nb101_hash(genotype))
