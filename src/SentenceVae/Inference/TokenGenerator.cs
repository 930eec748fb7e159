using SentenceVae.Modules;
using SentenceVae.Text;
using static TorchSharp.torch;
using SentenceVae.Modules.Kernels;

namespace SentenceVae.Inference;

/// <summary>One generated token and the text it completes (empty while a multi-byte character is still incomplete).</summary>
public readonly record struct GeneratedToken(int Row, int Id, string Text);

/// <summary>
/// Token-by-token generation for an <see cref="OptForCausalLm"/> from prompts or text: the rows run in a
/// <see cref="TokenEngine"/> (the same engine the server steps), each ending at its own EOS or limit.
/// </summary>
public sealed class TokenGenerator(OptForCausalLm model, ITextTokenizer tokenizer)
{
    /// <summary>What a caller throws for a row that failed.</summary>
    public static InvalidDataException FailedRow() => new("the model's next-token probabilities were not finite (NaN or inf); are its weights damaged?");

    /// <summary>
    /// Prompt ids as the model was trained: BOS, then the text's tokens. Trailing spaces are left out
    /// (see <see cref="TrimPrompt"/>): byte-level BPE attaches a space to the word after it, so a prompt
    /// ending in a lone space token is text the model has rarely seen and continues badly.
    /// </summary>
    public int[] PromptIds(string prompt) => [tokenizer.BosId, .. tokenizer.Encode(TrimPrompt(prompt))];

    /// <summary>The prompt as the model continues it: without trailing spaces and tabs (the continuation brings its own).</summary>
    public static string TrimPrompt(string prompt) => prompt.TrimEnd(' ', '\t');

    /// <summary>A row of the engine for prompt ids (BOS first) under <paramref name="options"/> (its MaxNewTokens is the row's budget).</summary>
    public static TokenRow Row(int[] promptIds, GenerationOptions options) => new(promptIds) { Sampling = options, MaxTokens = options.MaxNewTokens };

    /// <summary>The decode kernels' weight format for this generator's engines (null: libtorch computes every step).</summary>
    public WeightFormat? Weights { get; init; }

    /// <summary>An engine of <paramref name="capacity"/> rows over this model.</summary>
    public TokenEngine NewEngine(int capacity) => new(model, tokenizer.EosId, capacity, weights: Weights);

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
        return ThreadedStream.Run(() => Run([Row(promptIds, options)]).SelectMany(step => step)
            .Select(e => e.End == DecodeEnd.Failed ? throw FailedRow() : e)
            .Where(e => e.End is null).Select(e => new GeneratedToken(0, e.Ids[0], decoder.Add(e.Ids[0]))), "svae-generate", cancel);
    }

    /// <summary>Continuations of several prompts in one engine; each row ends at its own EOS (not included) or limit.</summary>
    public List<int[]> Generate(IReadOnlyList<int[]> prompts, GenerationOptions options)
    {
        var rows = prompts.Select(p => Row(p, options)).ToList();
        return EngineRuns.Written(Run(rows), rows).Select(ids => ids.SelectMany(i => i).ToArray()).ToList();
    }

    /// <summary>Runs <paramref name="rows"/> in one engine (all joining at once) until every one has ended; yields each step's events.</summary>
    public IEnumerable<List<DecodeEvent>> Run(IReadOnlyList<TokenRow> rows) => EngineRuns.ToEnd(NewEngine(Math.Max(1, rows.Count)), rows);
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
