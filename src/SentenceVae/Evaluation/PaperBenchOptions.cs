using SentenceVae.Modules.Kernels;

namespace SentenceVae.Evaluation;

/// <summary>Settings of <see cref="PaperBench"/>.</summary>
public sealed record PaperBenchOptions
{
    /// <summary>Sizes: "125m", "350m", "1.3b".</summary>
    public string[] Sizes { get; init; } = ["125m", "350m", "1.3b"];
    /// <summary>Sentence Encoder/Decoder layers.</summary>
    public int[] H { get; init; } = [1, 2, 4];
    /// <summary>Rows per batch.</summary>
    public int[] Batches { get; init; } = [1, 8];
    /// <summary>Contexts before the timed output (tokens).</summary>
    public int[] Prompts { get; init; } = [256, 1024, 2048];
    /// <summary>Sentence Decoder vocabularies: OPT's 50,272 over the whole matrix; the compact 8,192 at <see cref="CompactPrompt"/> only.</summary>
    public int[] DecoderVocabs { get; init; } = [50272, 8192];
    /// <summary>The decode kernel's weight format for the vocabulary projections (null: libtorch, as before).</summary>
    public WeightFormat? Weights { get; init; }
    /// <summary>The prompt at which the compact-vocabulary variants are measured.</summary>
    public int CompactPrompt { get; init; } = 1024;
    /// <summary>Tokens per generated piece (the mean of a real text, measured by the caller).</summary>
    public required int TokensPerPiece { get; init; }
    /// <summary>Pieces written per timed run (output tokens = pieces × tokens per piece, for both models).</summary>
    public int PiecesPerRun { get; init; } = 1;
    /// <summary>Timed runs per pair (after one warm-up run).</summary>
    public int Runs { get; init; } = 2;
    /// <summary>A pair whose weights, heads and token-model cache would need more is left out (default: 60 % of the machine's memory).</summary>
    public long MemoryBudgetBytes { get; init; } = (long)(0.6 * GC.GetGCMemoryInfo().TotalAvailableMemoryBytes);
}
