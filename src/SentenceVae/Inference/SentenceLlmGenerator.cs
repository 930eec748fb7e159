using SentenceVae.Modules;
using SentenceVae.Text;
using static TorchSharp.torch;
using SentenceVae.Modules.Kernels;

namespace SentenceVae.Inference;

/// <summary>How a sentence-level LLM continues text: at most <see cref="MaxPieces"/> pieces, each decoded with <see cref="Tokens"/>.</summary>
public sealed record SentenceGenerationOptions
{
    /// <summary>Most pieces to generate per prompt.</summary>
    public int MaxPieces { get; init; } = 8;
    /// <summary>Most text tokens to write in all (the last piece is cut to fit); unlimited by default.</summary>
    public int MaxTokens { get; init; } = int.MaxValue;
    /// <summary>Piece decoding: max tokens per piece, greedy or temperature/top-k/top-p, seed.</summary>
    public GenerationOptions Tokens { get; init; } = new() { MaxNewTokens = 64 };
    /// <summary>Ignore the stop head (for timing a fixed number of pieces).</summary>
    public bool IgnoreStop { get; init; }
}

/// <summary>One generated piece of one row: its place among the row's pieces, its text and ids.</summary>
public readonly record struct GeneratedPiece(int Row, int Index, string Text, int[] Ids);

/// <summary>
/// Sentence-by-sentence generation from prompts or text: the rows run in a <see cref="SentenceEngine"/>
/// (the same engine the server steps): stop head → the Sentence Decoder writes the next piece → the
/// Sentence Encoder folds it → one backbone step, each row on its own. Rows stop independently.
/// </summary>
public sealed class SentenceLlmGenerator(SentenceLlm model, ITextTokenizer tokenizer) : Generator<PieceRow>(tokenizer)
{
    /// <summary>The prompt's pieces as token ids (lossless segmentation within the piece length limit).</summary>
    public List<int[]> PromptPieces(string prompt, CancellationToken cancel = default)
    {
        var splitter = model.Config.Svae.Splitter(Tokenizer);
        return splitter.Split(prompt).Select(p => { cancel.ThrowIfCancellationRequested(); return Tokenizer.Encode(p).ToArray(); }).ToList();
    }

    /// <summary>A row of the engine for a prompt's pieces under <paramref name="options"/>.</summary>
    public static PieceRow Row(List<int[]> promptPieces, SentenceGenerationOptions options) =>
        new(promptPieces) { Sampling = options.Tokens, MaxPieces = options.MaxPieces, MaxTokens = options.MaxTokens, IgnoreStop = options.IgnoreStop };

    /// <inheritdoc/>
    public override SentenceEngine NewEngine(int capacity) => NewEngine(capacity, reprefill: false);

    /// <summary>An engine of <paramref name="capacity"/> rows over this model (<paramref name="reprefill"/>: no backbone cache reuse, for equivalence tests).</summary>
    public SentenceEngine NewEngine(int capacity, bool reprefill) => new(model, capacity, reprefill, weights: Weights);

    /// <summary>The continuation of each prompt as its list of generated pieces (one engine; rows stop independently).</summary>
    public List<List<string>> Generate(IReadOnlyList<string> prompts, SentenceGenerationOptions options, bool useCache = true)
    {
        var rows = prompts.Select(p => Row(PromptPieces(p), options)).ToList();
        return EngineRuns.Written(Run(rows, reprefill: !useCache), rows).Select(pieces => pieces.Select(Tokenizer.Decode).ToList()).ToList();
    }

    /// <summary>Streams the pieces of one prompt's continuation as they are produced (the loop runs on its own thread).</summary>
    public IAsyncEnumerable<GeneratedPiece> StreamAsync(string prompt, SentenceGenerationOptions options, CancellationToken cancel = default) =>
        StreamAsync(PromptPieces(prompt), options, cancel);

    /// <summary>As <see cref="StreamAsync(string, SentenceGenerationOptions, CancellationToken)"/> from a prompt already cut into pieces' token ids.</summary>
    public IAsyncEnumerable<GeneratedPiece> StreamAsync(List<int[]> promptPieces, SentenceGenerationOptions options, CancellationToken cancel = default)
    {
        int index = 0;
        return Stream(Run([Row(promptPieces, options)]), ids => new GeneratedPiece(0, index++, Tokenizer.Decode(ids), ids), "svae-sllm-generate", cancel);
    }

    /// <summary>As <see cref="Generator{TRow}.Run"/>; <paramref name="reprefill"/>: no backbone cache reuse (for equivalence tests).</summary>
    public IEnumerable<List<DecodeEvent>> Run(IReadOnlyList<PieceRow> rows, bool reprefill) =>
        reprefill ? EngineRuns.ToEnd(NewEngine(Math.Max(1, rows.Count), reprefill), rows) : Run(rows);
}
