namespace SentenceVae.Inference;

/// <summary>Why a row left a decoding engine.</summary>
public enum DecodeEnd
{
    /// <summary>The model ended it: EOS (token model) or the stop head (sentence-level model).</summary>
    Stop,
    /// <summary>Its budget is spent: <see cref="DecodeRow.MaxTokens"/> or <see cref="PieceRow.MaxPieces"/>.</summary>
    Length,
    /// <summary>Its owner halted it (<see cref="DecodeRow.Halt"/>: cancelled, out of time, shutting down).</summary>
    Halted,
    /// <summary>Its probabilities stopped being finite; it ends alone and the other rows go on.</summary>
    Failed,
}

/// <summary>What an engine step wrote for one row: a token or a whole piece (<see cref="Ids"/>), or the row's end (<see cref="End"/>, no ids).</summary>
public readonly record struct DecodeEvent(DecodeRow Row, int[] Ids, DecodeEnd? End = null);

/// <summary>
/// Where a row's output goes as the engine writes it: the row's owner provides it (a served request's
/// stream, a stop-text filter). Called on the engine's thread, inside its step.
/// </summary>
public interface IRowSink
{
    /// <summary>The row wrote <paramref name="ids"/> (a token, or a whole piece); false when its owner needs no more (a stop text was written): the engine ends the row now as <see cref="DecodeEnd.Stop"/>.</summary>
    bool Write(DecodeRow row, int[] ids);
    /// <summary>The row has ended (<see cref="DecodeRow.End"/> says why) and left the engine.</summary>
    void End(DecodeRow row);
}

/// <summary>
/// One row of a decoding engine (<see cref="IDecodeEngine"/>) from admission to its end: its prompt, how it
/// samples, its one budget and its one ending — the object the engine asks whether the row may go on
/// (<see cref="HasBudget"/>, as llama.cpp's slots do) and records the row's progress in. Its owner reads
/// what it writes through <see cref="Sink"/> (or the events of <see cref="IDecodeEngine.Step"/>) and ends it
/// early with <see cref="Halt"/>. <see cref="TokenRow"/> and <see cref="PieceRow"/>.
/// </summary>
public abstract class DecodeRow
{
    /// <summary>Temperature, top-k, top-p, seed; for a sentence-level model also the longest piece (<see cref="GenerationOptions.MaxNewTokens"/>).</summary>
    public GenerationOptions Sampling { get; init; } = new();
    /// <summary>Most tokens the row writes in all (a token model counts its EOS; a sentence-level model's last piece is cut to fit).</summary>
    public int MaxTokens { get; init; } = int.MaxValue;
    /// <summary>Receives what the row writes and its end; set before the row joins an engine.</summary>
    public IRowSink? Sink { get; set; }

    /// <summary>Tokens written so far.</summary>
    public int Tokens { get; internal set; }
    /// <summary>Why the row ended (null while it runs).</summary>
    public DecodeEnd? End { get; internal set; }

    /// <summary>True while the row may write more: not ended, not halted, tokens left.</summary>
    public virtual bool HasBudget => End is null && !halted && Tokens < MaxTokens;

    /// <summary>Asks the engine to end the row at its next step (<see cref="DecodeEnd.Halted"/>); safe from any thread.</summary>
    public void Halt() => halted = true;

    /// <summary>True once <see cref="Halt"/> was called.</summary>
    public bool IsHalted => halted;

    private volatile bool halted;

    /// <summary>Why a row without budget ends: halted by its owner, or its budget spent.</summary>
    internal DecodeEnd BudgetEnd => halted ? DecodeEnd.Halted : DecodeEnd.Length;

    /// <summary>For benchmarks: the prompt's keys and values are random instead of prefilled (its ids only set its length).</summary>
    public bool RandomContext { get; init; }

    // The engine's bookkeeping.
    internal int Slot = -1;
    internal RowSampling? Sampler;
    internal int Start;                       // the first unit (token or piece) in the row's view
}

/// <summary>A token model's row: the prompt's ids (BOS first).</summary>
public sealed class TokenRow(int[] prompt) : DecodeRow
{
    /// <summary>The prompt's ids, BOS first.</summary>
    public int[] Prompt { get; } = prompt.Length > 0 ? prompt : throw new ArgumentException("a prompt needs at least one token (BOS)", nameof(prompt));
    internal List<int> History = [];
}

/// <summary>A sentence-level model's row: the prompt's pieces (token ids each, no BOS).</summary>
public sealed class PieceRow(List<int[]> prompt) : DecodeRow
{
    /// <summary>The prompt's pieces.</summary>
    public List<int[]> Prompt { get; } = prompt;
    /// <summary>Most pieces to write.</summary>
    public int MaxPieces { get; init; } = int.MaxValue;
    /// <summary>Ignore the stop head (timing a fixed number of pieces).</summary>
    public bool IgnoreStop { get; init; }
    /// <summary>Pieces written so far.</summary>
    public int Pieces { get; internal set; }

    /// <inheritdoc/>
    public override bool HasBudget => base.HasBudget && Pieces < MaxPieces;

    internal List<int[]> History = [];
    internal List<int> Piece = [];           // the piece being written
    internal int Last;                       // the token the decoder reads next (BOS at a piece's start)
    internal int MemoryLength;               // the decoder memory's real slots
    internal HashSet<int> RefusedFirst = [];  // first tokens of the refused attempts at the current piece
    internal bool Waiting;                   // its piece is complete; its per-piece work has not run yet
    internal int Waited;                     // steps it has waited so
}

/// <summary>
/// A step-level decoding engine: rows join (their prompt prefilled into the engine's caches), every
/// <see cref="Step"/> advances each row by one unit of work, and rows leave when they end — so a row never
/// waits for another row to finish. The engine owns its caches (one slot per row) and runs on one thread.
/// </summary>
public interface IDecodeEngine : IDisposable
{
    /// <summary>Rows running now.</summary>
    int Count { get; }
    /// <summary>Most rows at once.</summary>
    int Capacity { get; }
    /// <summary>Admits a row (its prompt is prefilled now); its first output comes from the next <see cref="Step"/>. Throws when the engine is full or the row is of the other kind.</summary>
    void Add(DecodeRow row);
    /// <summary>One iteration for every running row; returns what each wrote and which rows ended (they have left).</summary>
    List<DecodeEvent> Step();
    /// <summary>Takes a row out now (its owner went away); no event.</summary>
    void Remove(DecodeRow row);
    /// <summary>Rows stepped so far, summed over steps.</summary>
    long RowIterations { get; }
    /// <summary>Of <see cref="RowIterations"/>, those in which the row wrote nothing (no token, no end of piece): it only waited on other rows.</summary>
    long WaitingRowIterations { get; }
    /// <summary>True when decode steps go through the decode kernels (a weight format was given).</summary>
    bool UsesKernels { get; }
    /// <summary>Bytes of weights the decode kernels have been set up to read: 0 until the first step that used them packed them.</summary>
    long KernelWeightBytes { get; }
}
