using SentenceVae.Modules;
using static TorchSharp.torch;
using SentenceVae.Modules.Kernels;

namespace SentenceVae.Inference;

/// <summary>
/// The token model's decoding engine. A row joins by prefilling all of its view but the last token into
/// its slot; every step then feeds each row its last token at its own position and samples the next (one
/// forward pass for all rows, one host transfer). A row ends at EOS, at its budget, when halted, or —
/// alone — when its probabilities stop being finite. A row whose text outgrows the trained context
/// keeps its most recent half context (<see cref="ContextWindow"/>) and is re-prefilled alone.
/// </summary>
public sealed class TokenEngine : DecodeEngine<TokenRow>
{
    private readonly OptForCausalLm model;
    private readonly int eos;
    private readonly Device device;
    private readonly DecodingHead head;
    private readonly SlotKvCache cache;
    private readonly ContextWindow window;
    private readonly DecodeKernels? kernels;          // every projection of a decode step, when a weight format was given

    /// <summary>
    /// An engine of <paramref name="capacity"/> rows over <paramref name="model"/>, whose rows end at
    /// <paramref name="eosId"/>; each row's view holds the trained context, or fewer
    /// <paramref name="positions"/> (benchmarks size the cache to what they time).
    /// </summary>
    public TokenEngine(OptForCausalLm model, int eosId, int capacity, int? positions = null, WeightFormat? weights = null) : base(capacity, model)
    {
        this.model = model;
        eos = eosId;
        device = Devices.DeviceOf(model);
        window = new ContextWindow(Math.Min(positions ?? int.MaxValue, Math.Min(model.Config.Context, model.Config.MaxPositionEmbeddings)));
        head = model.NewDecodingHead();
        if (weights is { } format) kernels = new DecodeKernels(format);          // as many threads as libtorch has

        cache = model.NewSlotCache(capacity, window.Context, device, WeightFormats.CacheType(weights));
    }

    /// <summary>Bytes of the engine's cache (all slots).</summary>
    public long CacheBytes => cache.AllocatedBytes;

    /// <inheritdoc/>
    protected override void Admit(TokenRow row)
    {
        row.History = [.. row.Prompt];
        row.Start = window.Start(row.History.Count);
        row.Sampler = new RowSampling(row.Sampling, device);
        row.Sampler.Start(row.Prompt);
        Prefill(row);
    }

    // Everything in view but the last token (the next step feeds it).
    private void Prefill(TokenRow row)
    {
        int length = row.History.Count - row.Start - 1;
        if (length == 0)
        {
            cache.Clear(row.Slot);
            return;
        }
        if (row.RandomContext)
        {
            cache.FillRandom(row.Slot, length);
            return;
        }
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        using var alone = model.NewCache();
        var ids = tensor(row.History.Skip(row.Start).Take(length).Select(i => (long)i).ToArray(), new long[] { 1, length }, device: device);   // (1, L)
        model.Decoder.forward(ids, ones_like(ids), alone);
        cache.Load(row.Slot, alone);
    }

    /// <summary>Bytes of weights the decode kernels have been set up to read (0 while every step ran on libtorch).</summary>
    public override long KernelWeightBytes => kernels?.PackedBytes ?? 0;
    /// <inheritdoc/>
    public override bool UsesKernels => kernels is not null;

    /// <inheritdoc/>
    protected override void Iterate(List<DecodeEvent> events)
    {
        int n = Rows.Count;
        long[] ids;
        using (var scope = NewDisposeScope())
        using (no_grad())
        using (kernels?.Use())
        {
            var input = tensor(Rows.Select(r => (long)r.History[^1]).ToArray(), new long[] { n, 1 }, device: device);   // (n, 1)
            var step = cache.Step(n);
            var logits = model.Step(input, step, head);                                                                  // (n, V)
            step.Commit();
            ids = TokenSampler.Sample(logits, Rows.Select(r => r.Sampler!).ToList()).cpu().data<long>().ToArray();   // one transfer
        }
        var ended = new List<(TokenRow, DecodeEnd)>();
        for (int i = 0; i < n; i++)
        {
            var row = Rows[i];
            if (ids[i] == TokenSampler.Broken) { ended.Add((row, DecodeEnd.Failed)); continue; }
            int id = (int)ids[i];
            Wrote++;
            row.Tokens++;
            if (row.Sampling.StopAtEos && id == eos) { ended.Add((row, DecodeEnd.Stop)); continue; }
            row.History.Add(id);
            row.Sampler!.Accept(id);
            if (!Emit(row, [id], events)) { ended.Add((row, DecodeEnd.Stop)); continue; }
            if (!row.HasBudget) { ended.Add((row, row.BudgetEnd)); continue; }
            int start = window.Start(row.History.Count, row.Start);
            if (start != row.Start)
            {
                row.Start = start;
                Prefill(row);
            }
        }
        FinishAll(ended, events);
    }

    /// <inheritdoc/>
    protected override void MoveSlot(int from, int to) => cache.Move(from, to);

    /// <inheritdoc/>
    protected override void Free()
    {
        cache.Dispose();
        head.Dispose();
    }
}
