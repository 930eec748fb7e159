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
public sealed class TokenGenerator(OptForCausalLm model, ITextTokenizer tokenizer) : Generator<TokenRow>(tokenizer)
{
    /// <summary>
    /// Prompt ids as the model was trained: BOS, then the text's tokens. Trailing spaces are left out
    /// (see <see cref="TrimPrompt"/>): byte-level BPE attaches a space to the word after it, so a prompt
    /// ending in a lone space token is text the model has rarely seen and continues badly.
    /// </summary>
    public int[] PromptIds(string prompt) => [Tokenizer.BosId, .. Tokenizer.Encode(TrimPrompt(prompt))];

    /// <summary>The prompt as the model continues it: without trailing spaces and tabs (the continuation brings its own).</summary>
    public static string TrimPrompt(string prompt) => prompt.TrimEnd(' ', '\t');

    /// <summary>A row of the engine for prompt ids (BOS first) under <paramref name="options"/> (its MaxNewTokens is the row's budget).</summary>
    public static TokenRow Row(int[] promptIds, GenerationOptions options) => new(promptIds) { Sampling = options, MaxTokens = options.MaxNewTokens };

    /// <inheritdoc/>
    public override TokenEngine NewEngine(int capacity) => new(model, Tokenizer.EosId, capacity, weights: Weights);

    /// <summary>Streams the continuation of one prompt, token by token, with its text (the loop runs on its own thread).</summary>
    public IAsyncEnumerable<GeneratedToken> StreamAsync(string prompt, GenerationOptions options, CancellationToken cancel = default) =>
        StreamAsync(PromptIds(prompt), options, cancel);

    /// <summary>As <see cref="StreamAsync(string, GenerationOptions, CancellationToken)"/> from prompt ids (BOS first, see <see cref="PromptIds"/>).</summary>
    public IAsyncEnumerable<GeneratedToken> StreamAsync(int[] promptIds, GenerationOptions options, CancellationToken cancel = default)
    {
        var decoder = new IncrementalDecoder(Tokenizer);
        return Stream(Run([Row(promptIds, options)]), ids => new GeneratedToken(0, ids[0], decoder.Add(ids[0])), "svae-generate", cancel);
    }

    /// <summary>Continuations of several prompts in one engine; each row ends at its own EOS (not included) or limit.</summary>
    public List<int[]> Generate(IReadOnlyList<int[]> prompts, GenerationOptions options)
    {
        var rows = prompts.Select(p => Row(p, options)).ToList();
        return EngineRuns.Written(Run(rows), rows).Select(ids => ids.SelectMany(i => i).ToArray()).ToList();
    }
}
