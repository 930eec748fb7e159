using SentenceVae.Modules.Kernels;

namespace SentenceVae.Evaluation;

/// <summary>Settings of <see cref="Benchmark"/>.</summary>
public sealed record BenchmarkOptions
{
    /// <summary>Prompt lengths (tokens) at which output speed is timed.</summary>
    public int[] PromptTokens { get; init; } = [64, 256, 1024];
    /// <summary>Tokens of output text timed per run (stop decisions and EOS ignored).</summary>
    public int OutputTokens { get; init; } = 32;
    /// <summary>Timed repetitions per model and prompt length (after one warm-up).</summary>
    public int Runs { get; init; } = 5;
    /// <summary>Cap on the evaluated text, in baseline tokens (0: all of it).</summary>
    public long EvalTokens { get; init; }
    /// <summary>Intra-op threads for the whole run.</summary>
    public int Threads { get; init; } = 2;
    /// <summary>Batch sizes at which output speed is timed (rows with prompts from different places in the text).</summary>
    public int[] Batches { get; init; } = [1];
    /// <summary>Further texts (name → documents) scored for bits per byte only, e.g. an out-of-domain text.</summary>
    public IReadOnlyDictionary<string, IReadOnlyList<string>> ScoredTexts { get; init; } = new Dictionary<string, IReadOnlyList<string>>();
    /// <summary>How the timed decode steps compute: libtorch (null) or the decode kernels in this weight format (scores stay on libtorch).</summary>
    public WeightFormat? Weights { get; init; }
}
