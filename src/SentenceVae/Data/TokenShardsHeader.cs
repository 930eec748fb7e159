using System.Text.Json.Serialization;

namespace SentenceVae.Data;

/// <summary>The JSON header of a prepared split (<see cref="TokenShards"/>): what its arrays hold and how to read them.</summary>
public sealed record TokenShardsHeader
{
    /// <summary>What the files are.</summary>
    [JsonPropertyName("format")] public string Format { get; init; } = "svae-token-shards";
    /// <summary>The layout's version.</summary>
    [JsonPropertyName("version")] public int Version { get; init; } = 1;
    /// <summary>The split's name (the files' prefix).</summary>
    [JsonPropertyName("split")] public required string Split { get; init; }
    /// <summary>The tokenizer's kind (gpt2, compact, hf-bpe); the model directory it came from holds its files.</summary>
    [JsonPropertyName("tokenizer")] public required string Tokenizer { get; init; }
    /// <summary>Ids are in [0, vocab_size).</summary>
    [JsonPropertyName("vocab_size")] public int VocabSize { get; init; }
    /// <summary>Special ids (not in the arrays: a trainer adds BOS/EOS as its model needs).</summary>
    [JsonPropertyName("bos_id")] public int BosId { get; init; }
    /// <inheritdoc cref="BosId"/>
    [JsonPropertyName("eos_id")] public int EosId { get; init; }
    /// <inheritdoc cref="BosId"/>
    [JsonPropertyName("pad_id")] public int PadId { get; init; }
    /// <summary>The segmentation's budget: no piece holds more tokens.</summary>
    [JsonPropertyName("piece_tokens")] public int PieceTokens { get; init; }
    /// <summary>Little-endian element type of the token arrays: uint16 or uint32 (piece lengths are uint16, document piece counts uint32).</summary>
    [JsonPropertyName("token_type")] public string TokenType { get; init; } = "uint16";
    /// <summary>Documents (non-empty lines of the corpus).</summary>
    [JsonPropertyName("documents")] public long Documents { get; init; }
    /// <summary>Pieces over all documents.</summary>
    [JsonPropertyName("pieces")] public long Pieces { get; init; }
    /// <summary>Tokens over all pieces.</summary>
    [JsonPropertyName("tokens")] public long Tokens { get; init; }
    /// <summary>UTF-8 bytes of the documents (the unit of bits per byte).</summary>
    [JsonPropertyName("bytes")] public long Bytes { get; init; }
    /// <summary>The shards, in order.</summary>
    [JsonPropertyName("shards")] public IReadOnlyList<Shard> Shards { get; init; } = [];

    /// <summary>One shard's files and counts.</summary>
    public sealed record Shard
    {
        /// <summary>Token ids, pieces one after another.</summary>
        [JsonPropertyName("tokens_file")] public required string TokenFile { get; init; }
        /// <summary>Each piece's length in tokens (uint16).</summary>
        [JsonPropertyName("pieces_file")] public required string PieceFile { get; init; }
        /// <summary>Each document's number of pieces (uint32).</summary>
        [JsonPropertyName("documents_file")] public required string DocumentFile { get; init; }
        /// <summary>Tokens in the shard.</summary>
        [JsonPropertyName("tokens")] public long TokenCount { get; init; }
        /// <summary>Pieces in the shard.</summary>
        [JsonPropertyName("pieces")] public long PieceCount { get; init; }
        /// <summary>Documents in the shard.</summary>
        [JsonPropertyName("documents")] public long DocumentCount { get; init; }
    }

    /// <summary>Checks what a reader relies on; throws <see cref="InvalidDataException"/> naming the key.</summary>
    public TokenShardsHeader Validate()
    {
        if (Format != "svae-token-shards") throw new InvalidDataException($"format '{Format}' is not svae-token-shards");
        if (Version != 1) throw new InvalidDataException($"version {Version} is not one this library reads (1)");
        if (TokenType is not ("uint16" or "uint32")) throw new InvalidDataException($"token_type '{TokenType}' (expected uint16 or uint32)");
        if (Shards.Any(s => s.TokenFile.Contains('/') || s.TokenFile.Contains('\\') || s.PieceFile.Contains('/') || s.DocumentFile.Contains('/')))
            throw new InvalidDataException("shard files must lie beside the header");
        return this;
    }
}
