using SentenceVae.Inference;

namespace SentenceVae.Serving;

/// <summary>
/// The worker's policy, on the worker thread (<see cref="GenerationService"/> hosts it): requests wait in
/// arrival order and join their model's engine while it has room (a request cancelled, out of time or
/// caught by a shutdown before it starts is answered with why); one slice of the first embedding job runs
/// between two steps; models with rows take turns, one step each. An engine whose step throws ends its
/// own rows with the error and starts afresh; every other model goes on.
/// </summary>
internal sealed class Scheduler(GenerationServiceOptions options, ServiceStatistics statistics, Action leftQueue,
    Func<ServingException> shuttingDown, Func<TimeSpan, ServingException> timedOutWaiting) : IDisposable
{
    private readonly List<ServedRow> waiting = [];
    private readonly Queue<GenerationService.EmbeddingWork> jobs = new();
    private readonly Dictionary<ServedModel, IDecodeEngine> engines = [];
    private readonly Dictionary<DecodeRow, ServedRow> rows = [];
    private int turn;

    /// <summary>Raised when a request joins its model's engine: the model's name.</summary>
    public event Action<string>? Admitted;

    /// <summary>Raised after each engine step: the model's name and the rows it stepped.</summary>
    public event Action<string, int>? Stepped;

    /// <summary>Nothing waits, no job is left and no engine has rows.</summary>
    public bool Idle => waiting.Count == 0 && jobs.Count == 0 && engines.Values.All(e => e.Count == 0);

    /// <summary>Rows running now, over all models.</summary>
    public int Running => engines.Values.Sum(e => e.Count);

    /// <summary>A completion waits for a row of its model's engine.</summary>
    public void Wait(ServedRow row) => waiting.Add(row);

    /// <summary>An embedding job waits for its slices.</summary>
    public void Wait(GenerationService.EmbeddingWork job) => jobs.Enqueue(job);

    /// <summary>Waiting requests join their model's engine, in arrival order, while it has room.</summary>
    public void Admit()
    {
        foreach (var row in waiting.ToList())
        {
            if (!engines.TryGetValue(row.Model, out var engine)) engines[row.Model] = engine = row.Model.NewEngine(options.MaxBatch);
            if (row.Cancel.IsCancellationRequested) { Leave(row); row.Fail(new OperationCanceledException(row.Cancel)); statistics.Count(ref statistics.cancelled); continue; }
            // A request that never started is answered with why, not with an empty "length".
            if (row.Model.Ending) { Leave(row); row.Fail(shuttingDown()); statistics.Count(ref statistics.completed); continue; }
            if (row.OutOfTime) { Leave(row); row.Fail(timedOutWaiting(options.RequestTimeout!.Value)); statistics.Count(ref statistics.completed); continue; }
            if (engine.Count >= engine.Capacity) continue;
            Leave(row);
            rows[row.Decode] = row;
            try
            {
                engine.Add(row.Decode);
                statistics.Admit();
                Admitted?.Invoke(row.Model.Name);
            }
            catch (Exception e) { rows.Remove(row.Decode); row.Fail(e); statistics.Count(ref statistics.completed); }
        }
    }

    /// <summary>One slice of the first embedding job, so neither kind of work starves the other.</summary>
    public void RunEmbeddingSlice()
    {
        if (jobs.TryPeek(out var job) && job.RunSlice())
        {
            jobs.Dequeue();
            leftQueue();
        }
    }

    /// <summary>One step of the next model with rows (models take turns).</summary>
    public void Step()
    {
        var busy = engines.Where(e => e.Value.Count > 0).ToList();
        if (busy.Count == 0) return;
        var (model, next) = busy[turn++ % busy.Count];
        foreach (var row in rows.Values)
            if (row.Model == model && row.ShouldHalt) row.Decode.Halt();           // it ends at this step, with what it wrote
        int stepped = next.Count;
        long iterations = next.RowIterations, waited = next.WaitingRowIterations;
        List<DecodeEvent> events;
        try { events = next.Step(); }
        catch (Exception e)
        {
            // The engine itself failed (not one row): its rows end with the error and it starts afresh.
            foreach (var row in rows.Values.Where(r => r.Model == model).ToList()) { rows.Remove(row.Decode); row.Fail(e); statistics.Count(ref statistics.completed); }
            try { next.Dispose(); }
            finally { engines.Remove(model); }
            return;
        }
        statistics.Step(stepped, next.RowIterations - iterations, next.WaitingRowIterations - waited);
        Stepped?.Invoke(model.Name, stepped);
        // What the rows wrote has gone to their sinks within the step; here only the ended ones are counted.
        foreach (var e in events)
            if (e.End is not null && rows.Remove(e.Row, out var row))
                statistics.Count(ref row.Cancel.IsCancellationRequested ? ref statistics.cancelled : ref statistics.completed);
    }

    private void Leave(ServedRow row)
    {
        waiting.Remove(row);
        leftQueue();
    }

    /// <summary>Frees the engines; every request still running or waiting ends with the service gone.</summary>
    public void Dispose()
    {
        foreach (var engine in engines.Values) engine.Dispose();
        foreach (var row in rows.Values.Concat(waiting)) row.Fail(new ObjectDisposedException(nameof(GenerationService)));
    }
}
