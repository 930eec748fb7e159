using SentenceVae.Modules;
using static TorchSharp.torch;

namespace SentenceVae.Inference;

/// <summary>
/// Runs a <see cref="SentenceVaeModel"/> on many pieces: batched encoding (BOS + tokens, right-padded)
/// and batched decoding with a KV cache, rows finishing independently at EOS, never past the
/// length limit. The model computes; this class runs the loops.
/// </summary>
public sealed class SentenceCodec(SentenceVaeModel model, int batchSize = 64)
{
    private SentenceVaeConfig Config => model.Config;

    /// <summary>Model input for pieces: (B, T) ids with BOS first and PAD after each piece, and the (B, T) mask.</summary>
    public (Tensor InputIds, Tensor AttentionMask) Batch(IReadOnlyList<int[]> pieces, Device? device = null)
    {
        int longest = pieces.Max(p => p.Length) + 1;
        if (longest > Config.MaxSeqLen)
            throw new ArgumentException($"a piece of {longest - 1} tokens (+BOS) exceeds max_seq_len {Config.MaxSeqLen}; split it (the splitter's token budget)");
        var ids = new long[pieces.Count * longest];
        var mask = new long[pieces.Count * longest];
        for (int b = 0; b < pieces.Count; b++)
            for (int i = 0; i < longest; i++)
            {
                bool real = i <= pieces[b].Length;
                ids[b * longest + i] = i == 0 ? Config.BosId : real ? pieces[b][i - 1] : Config.PadId;
                mask[b * longest + i] = real ? 1 : 0;
            }
        var shape = new long[] { pieces.Count, longest };
        return (tensor(ids, shape, device: device), tensor(mask, shape, device: device));
    }

    /// <summary>
    /// Model input for windows of pieces (a sentence-level model's batch): (B, S, T) ids and mask, S the most pieces a
    /// window holds; a window's absent pieces are all PAD under a mask of 0.
    /// </summary>
    public (Tensor PieceIds, Tensor PieceMask) Windows(IReadOnlyList<IReadOnlyList<int[]>> windows, Device? device = null)
    {
        int b = windows.Count, s = windows.Max(w => w.Count);
        var flat = windows.SelectMany(w => w.Concat(Enumerable.Repeat(Array.Empty<int>(), s - w.Count))).ToList();
        var (ids, mask) = Batch(flat, device);
        long t = ids.shape[1];
        var present = tensor(windows.SelectMany(w => Enumerable.Range(0, s).Select(i => i < w.Count ? 1L : 0L)).ToArray(), device: device);
        return (ids.view(b, s, t), (mask * present.unsqueeze(1)).view(b, s, t));
    }

    /// <summary>Sentence vectors (N, 1, C) of the pieces' token ids (without BOS), encoded in batches.</summary>
    public Tensor Encode(IReadOnlyList<int[]> pieces)
    {
        var device = Device;
        using var noGrad = no_grad();
        var parts = new List<Tensor>();
        for (int start = 0; start < pieces.Count; start += batchSize)
        {
            using var scope = NewDisposeScope();
            var (ids, mask) = Batch(pieces.Skip(start).Take(batchSize).ToList(), device);
            parts.Add(model.Encoder.forward(ids, mask).MoveToOuterDisposeScope());
        }
        var all = cat(parts, 0);
        foreach (var p in parts) p.Dispose();
        return all;                                                                   // (N, 1, C)
    }

    /// <summary>Sentence vectors (N, 1, C), token states (N, T, C) and their mask (N, T) of a few pieces, encoded as one batch (<paramref name="projection"/>: an engine step's kernels, else libtorch).</summary>
    public (Tensor Vectors, Tensor States, Tensor Mask) EncodeWithStates(IReadOnlyList<int[]> pieces, IProjection? projection = null)
    {
        using var noGrad = no_grad();
        var (ids, mask) = Batch(pieces, Device);
        var (vectors, states) = model.Encoder.Encode(ids, mask, projection);
        return (vectors, states, mask);
    }

    /// <summary>
    /// Token ids (without BOS and EOS) decoded from sentence vectors (B, 1, C), one cached step per token,
    /// each row sampled as <paramref name="options"/> say from a generator of its own (so a row decodes the
    /// same alone or in a batch). At most <c>min(MaxNewTokens, max_seq_len − 1)</c> tokens are produced per
    /// row, EOS included; a row whose probabilities stop being finite throws <see cref="EngineRuns.FailedRow"/>.
    /// </summary>
    public List<int[]> Decode(Tensor sentenceVectors, GenerationOptions options)
    {
        int rows = (int)sentenceVectors.shape[0], limit = Math.Min(options.Validate().MaxNewTokens, Config.MaxSeqLen - 1);
        var outputs = Enumerable.Range(0, rows).Select(_ => new List<int>()).ToList();
        var done = new bool[rows];
        var sampling = Enumerable.Range(0, rows).Select(_ => new RowSampling(options, sentenceVectors.device)).ToList();
        using var noGrad = no_grad();
        using var cache = model.Decoder.NewCache(sentenceVectors, null);
        using var head = model.Decoder.NewDecodingHead();
        var next = full(rows, 1, Config.BosId, dtype: ScalarType.Int64, device: sentenceVectors.device).DetachFromDisposeScope();
        try
        {
            for (int step = 0; step < limit && !done.All(d => d); step++)
            {
                using var scope = NewDisposeScope();
                var chosen = TokenSampler.Sample(model.Decoder.Step(next, cache, head), sampling);     // (B)
                var ids = chosen.cpu().data<long>().ToArray();
                for (int b = 0; b < rows; b++)
                {
                    if (done[b]) continue;
                    if (ids[b] == TokenSampler.Broken) throw EngineRuns.FailedRow();
                    if (options.StopAtEos && ids[b] == Config.EosId) done[b] = true;
                    else
                    {
                        outputs[b].Add((int)ids[b]);
                        sampling[b].Accept((int)ids[b]);
                    }
                }
                next.Dispose();
                next = chosen.unsqueeze(1).DetachFromDisposeScope();                                 // (B, 1)
            }
        }
        finally
        {
            next.Dispose();
            foreach (var s in sampling) s.Dispose();
        }
        return outputs.Select(o => o.ToArray()).ToList();
    }

    /// <summary>
    /// Greedy decoding the reference's way: the whole prefix re-run through the decoder for every token
    /// (no cache). For equivalence tests and speed comparisons only.
    /// </summary>
    public List<int[]> DecodeUncached(Tensor sentenceVectors, int maxNewTokens, bool stopAtEos = true)
    {
        int rows = (int)sentenceVectors.shape[0], limit = Math.Min(maxNewTokens, Config.MaxSeqLen - 1);
        var prefixes = Enumerable.Range(0, rows).Select(_ => new List<long> { Config.BosId }).ToList();
        var done = new bool[rows];
        using var noGrad = no_grad();
        for (int step = 0; step < limit && !done.All(d => d); step++)
        {
            using var scope = NewDisposeScope();
            var ids = tensor(prefixes.SelectMany(p => p).ToArray(), new long[] { rows, step + 1 }, device: sentenceVectors.device);
            var logits = model.Decoder.forward(ids, sentenceVectors, ones_like(ids));  // (B, T, V)
            var chosen = logits.select(1, -1).argmax(-1).cpu().data<long>().ToArray();
            for (int b = 0; b < rows; b++)
            {
                prefixes[b].Add(chosen[b]);
                if (stopAtEos && chosen[b] == Config.EosId) done[b] = true;
            }
        }
        return prefixes.Select(p => p.Skip(1).TakeWhile(id => !stopAtEos || id != Config.EosId).Select(id => (int)id).ToArray()).ToList();
    }

    private Device Device => Devices.DeviceOf(model);
}
