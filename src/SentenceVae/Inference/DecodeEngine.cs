namespace SentenceVae.Inference;

/// <summary>
/// What both engines share: rows live in slots 0..<see cref="Count"/>−1 (so a step runs over views of the
/// caches, no copies); a row that leaves is replaced by the last one (<see cref="MoveSlot"/>); rows whose
/// budget is spent or whose owner halted them leave at the start of a step.
/// </summary>
public abstract class DecodeEngine<TRow> : IDecodeEngine where TRow : DecodeRow
{
    /// <summary>The running rows, by slot.</summary>
    protected readonly List<TRow> Rows = [];

    private readonly TorchSharp.torch.nn.Module model;
    private readonly bool wasTraining;

    /// <summary>An engine of at most <paramref name="capacity"/> rows over <paramref name="model"/>, which is in eval mode (no dropout) while the engine lives.</summary>
    protected DecodeEngine(int capacity, TorchSharp.torch.nn.Module model)
    {
        Capacity = capacity >= 1 ? capacity : throw new ArgumentOutOfRangeException(nameof(capacity), capacity, "must be at least 1");
        this.model = model;
        wasTraining = model.training;
        model.eval();                    // each step also runs without gradients
    }

    /// <inheritdoc/>
    public int Count => Rows.Count;
    /// <inheritdoc/>
    public int Capacity { get; }
    /// <inheritdoc/>
    public long RowIterations { get; private set; }
    /// <inheritdoc/>
    public long WaitingRowIterations => RowIterations - Wrote;
    /// <inheritdoc/>
    public virtual bool UsesKernels => false;
    /// <inheritdoc/>
    public virtual long KernelWeightBytes => 0;
    /// <summary>Row-iterations in which the row wrote a token or ended a piece (counted where the ids are read, apart from <see cref="RowIterations"/>).</summary>
    protected long Wrote { get; set; }

    /// <inheritdoc/>
    public void Add(DecodeRow row)
    {
        var typed = row as TRow ?? throw new ArgumentException($"this engine runs {typeof(TRow).Name}s, not {row.GetType().Name}s", nameof(row));
        if (Rows.Count >= Capacity) throw new InvalidOperationException($"the engine is full ({Capacity} rows)");
        if (row.Slot >= 0 || row.End is not null) throw new InvalidOperationException("the row has already run");
        typed.Slot = Rows.Count;
        Rows.Add(typed);
        try { Admit(typed); }
        catch
        {
            Leave(typed);
            throw;
        }
    }

    /// <inheritdoc/>
    public List<DecodeEvent> Step()
    {
        var events = new List<DecodeEvent>(Pending);
        Pending.Clear();
        foreach (var row in Rows.Where(r => !r.HasBudget).ToList()) Finish(row, row.End ?? row.BudgetEnd, events);
        if (Rows.Count == 0) return events;
        RowIterations += Rows.Count;
        Iterate(events);
        return events;
    }

    /// <inheritdoc/>
    public void Remove(DecodeRow row)
    {
        if (row is TRow typed && typed.Slot >= 0 && typed.Slot < Rows.Count && ReferenceEquals(Rows[typed.Slot], typed))
        {
            typed.End ??= DecodeEnd.Halted;
            Leave(typed);
        }
    }

    /// <summary>Events of rows that ended while joining (e.g. the stop head ends a row at once), returned by the next step.</summary>
    protected List<DecodeEvent> Pending { get; } = [];

    /// <summary>Prefills a row that has just taken slot <see cref="DecodeRow.Slot"/>.</summary>
    protected abstract void Admit(TRow row);

    /// <summary>One iteration over <see cref="Rows"/> (all running, with budget); appends events and ends rows with <see cref="Finish"/>.</summary>
    protected abstract void Iterate(List<DecodeEvent> events);

    /// <summary>Moves every per-slot cache of slot <paramref name="from"/> to slot <paramref name="to"/>.</summary>
    protected abstract void MoveSlot(int from, int to);

    /// <summary>Reports what a row wrote (an event, and its sink); false when its owner needs no more, so the caller ends it as <see cref="DecodeEnd.Stop"/>.</summary>
    protected static bool Emit(TRow row, int[] ids, List<DecodeEvent> events)
    {
        events.Add(new DecodeEvent(row, ids));
        return row.Sink?.Write(row, ids) != false;
    }

    /// <summary>Ends a row: records why, frees its slot, and reports it (an event, and its sink).</summary>
    protected void Finish(TRow row, DecodeEnd end, List<DecodeEvent> events)
    {
        row.End = end;
        events.Add(new DecodeEvent(row, [], end));
        Leave(row);
        row.Sink?.End(row);
    }

    /// <summary>Ends several rows (highest slot first, so the rows that move into freed slots are rows that stay).</summary>
    protected void FinishAll(IEnumerable<(TRow Row, DecodeEnd End)> ended, List<DecodeEvent> events)
    {
        foreach (var (row, end) in ended.OrderByDescending(e => e.Row.Slot).ToList()) Finish(row, end, events);
    }

    private void Leave(TRow row)
    {
        int slot = row.Slot, last = Rows.Count - 1;
        if (slot != last)
        {
            MoveSlot(last, slot);
            Rows[slot] = Rows[last];
            Rows[slot].Slot = slot;
        }
        Rows.RemoveAt(last);
        row.Slot = -1;
        row.Sampler?.Dispose();
        row.Sampler = null;
    }

    /// <summary>Frees the caches (<see cref="Free"/>) and the rows' samplers; the model gets its training mode back.</summary>
    public void Dispose()
    {
        foreach (var row in Rows) row.Sampler?.Dispose();
        Free();
        if (wasTraining) model.train();
    }

    /// <summary>Frees what the engine allocated: caches, tables, its decoding head.</summary>
    protected abstract void Free();
}
