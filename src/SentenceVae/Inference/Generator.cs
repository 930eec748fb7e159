using SentenceVae.Modules.Kernels;
using SentenceVae.Text;

namespace SentenceVae.Inference;

/// <summary>
/// Generation over a step-level engine for one kind of row: make the engine, run rows to their end, stream
/// one row's output on its own thread. <see cref="TokenGenerator"/> (token rows) and
/// <see cref="SentenceLlmGenerator"/> (piece rows) add how a prompt becomes a row and how output becomes text.
/// </summary>
public abstract class Generator<TRow>(ITextTokenizer tokenizer) where TRow : DecodeRow
{
    /// <summary>The tokenizer prompts are read and output is written with.</summary>
    public ITextTokenizer Tokenizer => tokenizer;

    /// <summary>The decode kernels' weight format for this generator's engines (null: libtorch computes every step).</summary>
    public WeightFormat? Weights { get; init; }

    /// <summary>An engine of <paramref name="capacity"/> rows over this generator's model.</summary>
    public abstract DecodeEngine<TRow> NewEngine(int capacity);

    /// <summary>Runs <paramref name="rows"/> in one engine (all joining at once) until every one has ended; yields each step's events.</summary>
    public IEnumerable<List<DecodeEvent>> Run(IReadOnlyList<TRow> rows) => EngineRuns.ToEnd(NewEngine(Math.Max(1, rows.Count)), rows);

    /// <summary>
    /// One row's output as it is written, each step's ids turned into an item by <paramref name="item"/>. The
    /// loop runs on its own thread (TorchSharp's dispose scopes and no-grad state are per thread) and hands
    /// items over a channel; a row whose probabilities stopped being finite throws <see cref="EngineRuns.FailedRow"/>.
    /// </summary>
    protected IAsyncEnumerable<T> Stream<T>(IEnumerable<List<DecodeEvent>> run, Func<int[], T> item, string thread, CancellationToken cancel) =>
        ThreadedStream.Run(() => run.SelectMany(step => step)
            .Select(e => e.End == DecodeEnd.Failed ? throw EngineRuns.FailedRow() : e)
            .Where(e => e.End is null).Select(e => item(e.Ids)), thread, cancel);
}
