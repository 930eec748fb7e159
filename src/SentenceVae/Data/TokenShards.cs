using System.Buffers.Binary;
using SentenceVae.Text;

namespace SentenceVae.Data;

/// <summary>
/// A corpus prepared once for any trainer (ours or a PyTorch one under <c>torchrun</c>): the same documents,
/// segmentation and tokenizer as <c>svae train</c>, written as little-endian integer arrays in shards — token
/// ids (uint16 when the vocabulary fits, else uint32), each piece's length in tokens (uint16) and each
/// document's number of pieces (uint32) — beside a JSON header (<see cref="TokenShardsHeader"/>) naming the
/// tokenizer, its vocabulary and special ids, the piece budget and the counts. Shards end at document
/// boundaries, so a rank can take whole shards. Decoding the shards gives the documents back exactly.
/// </summary>
public static class TokenShards
{
    /// <summary>Writes the documents of <paramref name="corpus"/> (one per non-empty line) under <paramref name="directory"/> as split <paramref name="split"/>; returns the header written.</summary>
    public static TokenShardsHeader Write(string corpus, string directory, string split, ITextTokenizer tokenizer, SentenceSplitter splitter,
        int pieceTokens, long shardTokens = 100_000_000, Action<long>? progress = null)
    {
        if (shardTokens < 1) throw new ArgumentOutOfRangeException(nameof(shardTokens), shardTokens, "must be at least 1");
        if (split.Length == 0 || split.IndexOfAny(Path.GetInvalidFileNameChars()) >= 0 || split.Contains('.')) throw new ArgumentException($"'{split}' is not a split name (letters, digits, - and _)", nameof(split));
        Directory.CreateDirectory(directory);
        bool wide = tokenizer.VocabSize > ushort.MaxValue + 1;
        var shards = new List<TokenShardsHeader.Shard>();
        long documents = 0, pieces = 0, tokens = 0, bytes = 0;
        ShardWriter? writer = null;
        try
        {
            foreach (var document in CorpusReader.ReadTokenized(corpus, tokenizer, splitter))
            {
                writer ??= new ShardWriter(directory, $"{split}_{shards.Count:000}", wide);
                writer.Add(document.PieceIds);
                documents++;
                pieces += document.PieceIds.Count;
                tokens += document.PieceIds.Sum(p => (long)p.Length);
                bytes += document.ByteCount;
                progress?.Invoke(bytes);
                if (writer.Tokens >= shardTokens)
                {
                    shards.Add(writer.Close());
                    writer = null;
                }
            }
            if (writer is not null) shards.Add(writer.Close());
            writer = null;
        }
        finally { writer?.Dispose(); }
        var header = new TokenShardsHeader
        {
            Split = split, Tokenizer = tokenizer.Kind, VocabSize = tokenizer.VocabSize, BosId = tokenizer.BosId, EosId = tokenizer.EosId, PadId = tokenizer.PadId,
            PieceTokens = pieceTokens, TokenType = wide ? "uint32" : "uint16", Documents = documents, Pieces = pieces, Tokens = tokens, Bytes = bytes, Shards = shards,
        };
        JsonFile.Save(header, HeaderPath(directory, split));
        return header;
    }

    /// <summary>Where a split's header is: <c>{split}.json</c> in the directory.</summary>
    public static string HeaderPath(string directory, string split) => Path.Combine(directory, split + ".json");

    /// <summary>The header of a split (one line naming the file when it is missing or damaged).</summary>
    public static TokenShardsHeader ReadHeader(string directory, string split) => JsonFile.Load<TokenShardsHeader>(HeaderPath(directory, split), h => h.Validate());

    /// <summary>Every document of a split, as its pieces' token ids, shard after shard; the arrays are checked against the header.</summary>
    public static IEnumerable<List<int[]>> Read(string directory, string split)
    {
        var header = ReadHeader(directory, split);
        foreach (var shard in header.Shards)
        {
            var ids = ReadInts(Path.Combine(directory, shard.TokenFile), header.TokenType == "uint32" ? 4 : 2);
            var lengths = ReadInts(Path.Combine(directory, shard.PieceFile), 2);
            var counts = ReadInts(Path.Combine(directory, shard.DocumentFile), 4);
            if (ids.Length != shard.TokenCount || lengths.Length != shard.PieceCount || counts.Length != shard.DocumentCount
                || lengths.Sum(l => (long)l) != ids.Length || counts.Sum(c => (long)c) != lengths.Length)
                throw new InvalidDataException($"{Path.Combine(directory, shard.TokenFile)}: the shard's arrays do not match its header (truncated or from another run?)");
            int token = 0, piece = 0;
            foreach (int count in counts)
            {
                var document = new List<int[]>(count);
                for (int p = 0; p < count; p++, piece++)
                {
                    document.Add(ids.AsSpan(token, lengths[piece]).ToArray());
                    token += lengths[piece];
                }
                yield return document;
            }
        }
    }

    private static int[] ReadInts(string path, int width)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"{path}: no such file (a shard named in the header)", path);
        var bytes = File.ReadAllBytes(path);
        if (bytes.Length % width != 0) throw new InvalidDataException($"{path}: {bytes.Length} bytes is not a whole number of {width}-byte values");
        var values = new int[bytes.Length / width];
        for (int i = 0; i < values.Length; i++)
            values[i] = width == 2 ? BinaryPrimitives.ReadUInt16LittleEndian(bytes.AsSpan(2 * i)) : checked((int)BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(4 * i)));
        return values;
    }

    // One shard's three arrays, streamed to disk as documents come.
    private sealed class ShardWriter : IDisposable
    {
        private readonly string directory, name;
        private readonly bool wide;
        private readonly BinaryWriter tokens, pieces, documents;
        private long pieceCount, documentCount;

        public ShardWriter(string directory, string name, bool wide)
        {
            (this.directory, this.name, this.wide) = (directory, name, wide);
            tokens = Open(".tokens.bin");
            pieces = Open(".pieces.bin");
            documents = Open(".documents.bin");
        }

        public long Tokens { get; private set; }

        private BinaryWriter Open(string suffix) => new(new FileStream(Path.Combine(directory, name + suffix), FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20));

        public void Add(IReadOnlyList<int[]> document)
        {
            Span<byte> buffer = stackalloc byte[4];
            foreach (var piece in document)
            {
                if (piece.Length > ushort.MaxValue) throw new InvalidDataException($"a piece of {piece.Length} tokens does not fit a uint16 length");
                BinaryPrimitives.WriteUInt16LittleEndian(buffer, (ushort)piece.Length);
                pieces.Write(buffer[..2]);
                foreach (int id in piece)
                {
                    if (wide) BinaryPrimitives.WriteUInt32LittleEndian(buffer, (uint)id);
                    else BinaryPrimitives.WriteUInt16LittleEndian(buffer, checked((ushort)id));
                    tokens.Write(buffer[..(wide ? 4 : 2)]);
                }
                Tokens += piece.Length;
            }
            BinaryPrimitives.WriteUInt32LittleEndian(buffer, (uint)document.Count);
            documents.Write(buffer);
            pieceCount += document.Count;
            documentCount++;
        }

        public TokenShardsHeader.Shard Close()
        {
            Dispose();
            return new TokenShardsHeader.Shard
            {
                TokenFile = name + ".tokens.bin", PieceFile = name + ".pieces.bin", DocumentFile = name + ".documents.bin",
                TokenCount = Tokens, PieceCount = pieceCount, DocumentCount = documentCount,
            };
        }

        public void Dispose()
        {
            tokens.Dispose();
            pieces.Dispose();
            documents.Dispose();
        }
    }
}
