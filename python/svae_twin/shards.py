"""Reads what svae prepare writes (src/SentenceVae/Data/TokenShards.cs): a JSON header and little-endian arrays."""
import json
import os

import numpy as np


def documents(directory, split):
    """Every document of the split as a list of pieces, each a numpy array of token ids."""
    with open(os.path.join(directory, split + ".json")) as f:
        header = json.load(f)
    if header.get("format") != "svae-token-shards" or header.get("version") != 1:
        raise ValueError(f"{directory}/{split}.json is not an svae-token-shards header of version 1")
    token_type = "<u2" if header["token_type"] == "uint16" else "<u4"
    for shard in header["shards"]:
        ids = np.fromfile(os.path.join(directory, shard["tokens_file"]), dtype=token_type).astype(np.int64)
        lengths = np.fromfile(os.path.join(directory, shard["pieces_file"]), dtype="<u2").astype(np.int64)
        counts = np.fromfile(os.path.join(directory, shard["documents_file"]), dtype="<u4").astype(np.int64)
        if len(ids) != lengths.sum() or len(lengths) != counts.sum():
            raise ValueError(f"{shard['tokens_file']}: the shard's arrays do not match its header")
        starts = np.concatenate([[0], np.cumsum(lengths)])
        piece = 0
        for count in counts:
            yield [ids[starts[p]:starts[p + 1]] for p in range(piece, piece + count)]
            piece += count


def header(directory, split):
    with open(os.path.join(directory, split + ".json")) as f:
        return json.load(f)
