using SentenceVae.Modules;
using SentenceVae.Text;
using static TorchSharp.torch;

namespace SentenceVae.Inference;

/// <summary>One generated token and the text it completes (empty while a multi-byte character is still incomplete).</summary>
public readonly record struct GeneratedToken(int Row, int Id, string Text);

/// <summary>
/// The token-by-token generation loop for an <see cref="OptForCausalLm"/>: prefill the prompts (left-padded
/// into one batch) into a KV cache, then one cached step per token. Rows stop independently at EOS or at
/// the token limit. A row whose text outgrows the trained context keeps its most recent half context in
/// view and the batch is re-prefilled (<see cref="ContextWindow"/>). The model computes; this class only
/// runs the loop.
/// </summary>
public sealed class TokenGenerator(OptForCausalLm model, ITextTokenizer tokenizer)
{
    /// <summary>The id <see cref="Steps(IReadOnlyList{int[]}, IReadOnlyList{GenerationOptions}, Func{int, bool}?)"/> yields, once, for a row whose probabilities stopped being finite; the row ends there and the others go on.</summary>
    public const int Failed = -1;

    /// <summary>What a caller throws for a row that yielded <see cref="Failed"/>.</summary>
    public static InvalidDataException FailedRow() => new("the model's next-token probabilities were not finite (NaN or inf); are its weights damaged?");

    /// <summary>
    /// Prompt ids as the model was trained: BOS, then the text's tokens. Trailing spaces are left out
    /// (see <see cref="TrimPrompt"/>): byte-level BPE attaches a space to the word after it, so a prompt
    /// ending in a lone space token is text the model has rarely seen and continues badly.
    /// </summary>
    public int[] PromptIds(string prompt) => [tokenizer.BosId, .. tokenizer.Encode(TrimPrompt(prompt))];

    /// <summary>The prompt as the model continues it: without trailing spaces and tabs (the continuation brings its own).</summary>
    public static string TrimPrompt(string prompt) => prompt.TrimEnd(' ', '\t');

    /// <summary>
    /// Streams the continuation of one prompt, token by token, with its text. The loop runs on its own
    /// thread (TorchSharp's dispose scopes and no-grad state are per thread) and hands tokens over a channel.
    /// </summary>
    public IAsyncEnumerable<GeneratedToken> StreamAsync(string prompt, GenerationOptions options, CancellationToken cancel = default) =>
        StreamAsync(PromptIds(prompt), options, cancel);

    /// <summary>As <see cref="StreamAsync(string, GenerationOptions, CancellationToken)"/> from prompt ids (BOS first, see <see cref="PromptIds"/>).</summary>
    public IAsyncEnumerable<GeneratedToken> StreamAsync(int[] promptIds, GenerationOptions options, CancellationToken cancel = default)
    {
        var decoder = new IncrementalDecoder(tokenizer);
        return ThreadedStream.Run(() => Steps([promptIds], options).SelectMany(step => step.Select(t => t.Id == Failed ? throw FailedRow() : new GeneratedToken(t.Row, t.Id, decoder.Add(t.Id)))),
            "svae-generate", cancel);
    }

    /// <summary>Continuations of several prompts in one batch; each row ends at its own EOS (not included) or limit.</summary>
    public List<int[]> Generate(IReadOnlyList<int[]> prompts, GenerationOptions options)
    {
        var outputs = prompts.Select(_ => new List<int>()).ToList();
        foreach (var step in Steps(prompts, options))
            foreach (var (row, id) in step)
                if (id == Failed) throw FailedRow();
                else if (!(options.StopAtEos && id == tokenizer.EosId)) outputs[row].Add(id);
        return outputs.Select(o => o.ToArray()).ToList();
    }

    /// <summary>The loop: each step yields (row, token) for the rows still running.</summary>
    public IEnumerable<List<(int Row, int Id)>> Steps(IReadOnlyList<int[]> prompts, GenerationOptions options) => Steps(prompts, [options]);

    /// <summary>
    /// The loop with options of its own for each row (<paramref name="rowOptions"/>: one for all rows or one
    /// per row): a row ends at its EOS, its <see cref="GenerationOptions.MaxNewTokens"/>, or when
    /// <paramref name="halted"/> says so (checked before each step: cancelled, stop text, budget), or — yielding
    /// <see cref="Failed"/> — when its probabilities stop being finite, while the other rows go on.
    /// </summary>
    public IEnumerable<List<(int Row, int Id)>> Steps(IReadOnlyList<int[]> prompts, IReadOnlyList<GenerationOptions> rowOptions, Func<int, bool>? halted = null)
    {
        if (prompts.Count == 0 || prompts.Any(p => p.Length == 0)) throw new ArgumentException("every prompt needs at least one token (BOS)");
        if (rowOptions.Count != 1 && rowOptions.Count != prompts.Count) throw new ArgumentException($"{rowOptions.Count} options for {prompts.Count} prompts");
        GenerationOptions Options(int row) => rowOptions[rowOptions.Count == 1 ? 0 : row];
        int batch = prompts.Count, longest = prompts.Max(p => p.Length);
        int maxPositions = model.Config.MaxPositionEmbeddings;
        if (longest > maxPositions) throw new ArgumentException($"prompt of {longest} tokens exceeds the model's {maxPositions} positions");
        var device = Devices.DeviceOf(model);
        int newTokens = Math.Min(rowOptions.Max(o => o.MaxNewTokens), maxPositions - longest + 1);

        // Each row's tokens so far and the first one its view holds (the trained context, see ContextWindow).
        var window = new ContextWindow(model.Config.Context);
        var history = prompts.Select(p => p.ToList()).ToList();
        var start = prompts.Select(p => window.Start(p.Length)).ToArray();

        using var evaluation = new EvaluationMode(model);
        using var sampler = new TokenSampler(rowOptions, device);
        using var head = model.NewDecodingHead();
        var done = new bool[batch];
        var counts = new int[batch];
        var pads = new int[batch];
        int width = 0;                      // columns in the cache: the longest view, the others left-padded
        bool prefill = true;
        KvCache? cache = null;
        Tensor? next = null;
        try
        {
            for (int step = 0; step < newTokens; step++)
            {
                for (int b = 0; b < batch; b++) done[b] |= counts[b] >= Options(b).MaxNewTokens || halted?.Invoke(b) == true;
                if (done.All(d => d)) yield break;
                using var scope = NewDisposeScope();
                Tensor input;
                if (prefill)
                {
                    // (Re-)prefill every row's view; left padding keeps each row's last token in the last column.
                    cache?.Dispose();
                    cache = model.NewCache();
                    width = Enumerable.Range(0, batch).Max(b => history[b].Count - start[b]);
                    var padded = new long[batch * width];
                    for (int b = 0; b < batch; b++)
                    {
                        pads[b] = width - (history[b].Count - start[b]);
                        for (int i = 0; i < width; i++) padded[b * width + i] = i < pads[b] ? tokenizer.PadId : history[b][start[b] + i - pads[b]];
                    }
                    input = tensor(padded, new long[] { batch, width }, device: device);                                                    // (B, T)
                    prefill = false;
                }
                else
                {
                    width++;
                    input = next!.unsqueeze(1);                                                                                            // (B, 1)
                }
                var mask = arange(width, device: device).unsqueeze(0).ge(tensor(pads.Select(p => (long)p).ToArray(), device: device).unsqueeze(1)).to(ScalarType.Int64); // (B, width)
                var logits = model.forward(input, mask, cache, head).select(1, -1);                                                           // (B, V)
                next?.Dispose();
                next = sampler.Sample(logits, done).MoveToOuterDisposeScope();                                                               // (B)
                var ids = next.cpu().data<long>().ToArray();
                if (ids.Any(i => i == TokenSampler.Broken))
                {
                    var fed = next.clamp_min(0).MoveToOuterDisposeScope();      // a broken row is fed a valid id; it has ended
                    next.Dispose();
                    next = fed;
                }
                var emitted = new List<(int, int)>();
                for (int b = 0; b < batch; b++)
                {
                    history[b].Add((int)Math.Max(0, ids[b]));     // what the next step feeds this row, finished or not
                    if (window.Start(history[b].Count, start[b]) is var s && s != start[b]) { start[b] = s; prefill = true; }
                    if (done[b]) continue;
                    if (ids[b] == TokenSampler.Broken) { emitted.Add((b, Failed)); done[b] = true; continue; }
                    emitted.Add((b, (int)ids[b]));
                    counts[b]++;
                    if (Options(b).StopAtEos && ids[b] == tokenizer.EosId) done[b] = true;
                }
                yield return emitted;
            }
        }
        finally
        {
            next?.Dispose();
            cache?.Dispose();
        }
    }
}

/// <summary>Turns a growing list of ids into new text, holding back bytes of a character not yet complete.</summary>
public sealed class IncrementalDecoder(ITextTokenizer tokenizer)
{
    private readonly List<int> ids = new();
    private int emitted;

    /// <summary>Adds a token and returns the text it completes (empty while a multi-byte character is still open).</summary>
    public string Add(int id)
    {
        if (id == tokenizer.EosId || id == tokenizer.BosId || id == tokenizer.PadId) return "";
        ids.Add(id);
        string text = tokenizer.Decode(ids);
        if (text.EndsWith('\uFFFD')) return "";                     // a multi-byte character is still incomplete
        string added = text.Length >= emitted ? text[emitted..] : "";
        emitted = text.Length;
        return added;
    }
}
