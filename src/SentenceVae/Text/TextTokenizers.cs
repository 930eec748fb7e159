using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Microsoft.ML.Tokenizers;

namespace SentenceVae.Text;

/// <summary>
/// Creates and loads tokenizers: <c>gpt2</c> (tiktoken data package), <c>compact</c> (the bundled
/// 8k vocabulary built from the Austen training text), or a directory: one we saved
/// (<c>svae_tokenizer.json</c>) or a Hugging Face one with <c>vocab.json</c> + <c>merges.txt</c> or <c>tokenizer.json</c>.
/// </summary>
public static class TextTokenizers
{
    /// <summary>Our descriptor file in a model directory.</summary>
    public const string DescriptorFile = "svae_tokenizer.json";
    /// <summary>The compact vocabulary's file in a model directory.</summary>
    public const string CompactVocabFile = "vocab.tiktoken";
    /// <summary>Hugging Face's single-file tokenizer format.</summary>
    public const string TokenizerJsonFile = "tokenizer.json";
    private const string BundledCompactResource = "SentenceVae.Text.compact-8k.tiktoken";

    /// <summary>GPT-2's pre-tokenizer: contractions, letters, digits, other symbols, whitespace.</summary>
    public static readonly Regex Gpt2PreTokenizerPattern = new(
        @"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+", RegexOptions.Compiled);

    private static readonly Lazy<ITextTokenizer> gpt2 = new(CreateGpt2);
    private static readonly Lazy<ITextTokenizer> compact = new(() =>
    {
        using var stream = typeof(TextTokenizers).Assembly.GetManifestResourceStream(BundledCompactResource)
            ?? throw new InvalidDataException($"The library has no {BundledCompactResource} resource.");
        return CreateCompact(CompactVocabulary.Read(stream, "bundled compact vocabulary"));
    });

    /// <summary>GPT-2 BPE (50257 ids); &lt;|endoftext|&gt; (50256) serves as BOS, EOS and PAD, as in GPT-2.</summary>
    public static ITextTokenizer Gpt2 => gpt2.Value;

    /// <summary>The bundled compact vocabulary (8192 ids, see <see cref="CompactVocabulary"/>).</summary>
    public static ITextTokenizer Compact => compact.Value;

    /// <summary>"gpt2", "compact", or a directory path.</summary>
    public static ITextTokenizer Load(string spec) => spec switch
    {
        "gpt2" => Gpt2,
        "compact" => Compact,
        _ when Directory.Exists(spec) || new DirectoryInfo(spec).LinkTarget is not null => Checked(spec),
        _ => throw new TokenizerLoadException($"unknown tokenizer '{spec}': expected gpt2, compact, or a directory with {DescriptorFile} or vocab.json + merges.txt"),
    };

    private static ITextTokenizer Checked(string directory)
    {
        BoundedFile.CheckDirectory(directory);
        return FitsModel(FromDirectory(directory), directory);
    }

    /// <summary>
    /// The tokenizer, checked against the vocabulary of the model beside it (config.json's vocab_size, or
    /// its "svae" block's): a special id or token id the model has no row for is one line naming both.
    /// </summary>
    private static ITextTokenizer FitsModel(ITextTokenizer tokenizer, string directory)
    {
        var config = TryReadJson(Path.Combine(directory, "config.json"));
        var size = (config?["vocab_size"] ?? config?["svae"]?["vocab_size"]) as JsonValue;
        if (size is null || !size.TryGetValue(out int vocabulary)) return tokenizer;
        foreach (var (name, id) in new[] { ("bos", tokenizer.BosId), ("eos", tokenizer.EosId), ("pad", tokenizer.PadId) })
            if (id < 0 || id >= vocabulary)
                throw new TokenizerLoadException($"{directory}: the tokenizer's {name} id {id} is outside the model's vocab_size {vocabulary} (config.json)");
        if (tokenizer.VocabSize > vocabulary)
            throw new TokenizerLoadException($"{directory}: the tokenizer has {tokenizer.VocabSize} tokens but the model's vocab_size is {vocabulary} (config.json)");
        return tokenizer;
    }

    /// <summary>The tokenizer a directory holds: ours (svae_tokenizer.json) or Hugging Face's files.</summary>
    public static ITextTokenizer FromDirectory(string directory)
    {
        string descriptor = Path.Combine(directory, DescriptorFile);
        if (File.Exists(descriptor))
        {
            var json = ReadJson(descriptor);
            string type = json["type"]?.GetValue<string>() ?? throw new TokenizerLoadException($"{descriptor}: no \"type\"");
            return type switch
            {
                "gpt2" => Gpt2,
                "tiktoken" => CreateCompact(ReadCompactFile(Path.Combine(directory, json["vocab_file"]?.GetValue<string>() ?? CompactVocabFile))),
                "hf-bpe" => FromHuggingFaceDirectory(directory),
                _ => throw new TokenizerLoadException($"{descriptor}: unknown tokenizer type '{type}'"),
            };
        }
        if (File.Exists(Path.Combine(directory, "vocab.json")) && File.Exists(Path.Combine(directory, "merges.txt")) || File.Exists(Path.Combine(directory, TokenizerJsonFile)))
            return FromHuggingFaceDirectory(directory);
        throw new TokenizerLoadException($"{directory}: no tokenizer found (looked for {DescriptorFile}, vocab.json + merges.txt, or {TokenizerJsonFile})");
    }

    /// <summary>
    /// A Hugging Face byte-level BPE directory (what OPT and GPT-2 checkpoints ship): <c>vocab.json</c> +
    /// <c>merges.txt</c>, or a single <c>tokenizer.json</c> (model type BPE; its added tokens name the
    /// special tokens). Special ids come from config.json (bos/eos/pad_token_id), else from the
    /// special-token names in special_tokens_map.json / tokenizer_config.json, else from &lt;s&gt;,
    /// &lt;/s&gt;, &lt;pad&gt;, &lt;|endoftext|&gt;.
    /// </summary>
    public static ITextTokenizer FromHuggingFaceDirectory(string directory)
    {
        string vocabPath = Path.Combine(directory, "vocab.json"), mergesPath = Path.Combine(directory, "merges.txt"), tokenizerJson = Path.Combine(directory, TokenizerJsonFile);
        Dictionary<string, int> vocab;
        List<string> merges;
        string[] sources;
        if (!File.Exists(vocabPath) && !File.Exists(mergesPath) && File.Exists(tokenizerJson))
        {
            (vocab, merges) = ReadTokenizerJson(tokenizerJson);
            sources = [tokenizerJson];
        }
        else
        {
            foreach (var path in new[] { vocabPath, mergesPath })
                if (!File.Exists(path)) throw new TokenizerLoadException($"{path}: missing");
            try { vocab = JsonSerializer.Deserialize<Dictionary<string, int>>(BoundedFile.ReadAllText(vocabPath, BoundedFile.TokenizerBytes)) ?? throw new JsonException("null"); }
            catch (JsonException e) { throw new TokenizerLoadException($"{vocabPath}: not a JSON object of token → id ({e.Message})"); }
            // merges.txt: an optional "#version" line, then "left right" per line.
            merges = BoundedFile.ReadLines(mergesPath, BoundedFile.TokenizerBytes).Where(l => l.Length > 0 && !l.StartsWith("#version", StringComparison.Ordinal)).ToList();
            sources = [vocabPath, mergesPath];
        }
        if (vocab.Count == 0) throw new TokenizerLoadException($"{sources[0]}: empty vocabulary");
        int badMerge = merges.FindIndex(m => m.Split(' ').Length != 2);
        if (badMerge >= 0) throw new TokenizerLoadException($"{sources[^1]}: merge '{merges[badMerge]}' is not 'left right'");

        Tokenizer inner;
        try
        {
            // Only this construction reproduces GPT-2 ids in Microsoft.ML.Tokenizers 2.0.1
            // (CodeGenTokenizer.Create and the default BpeTokenizer.Create(files) differ).
            inner = BpeTokenizer.Create(new BpeOptions(vocab)
            {
                Merges = merges,
                ByteLevel = true,
                PreTokenizer = new RegexPreTokenizer(Gpt2PreTokenizerPattern, null),
            });
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or FormatException)
        {
            throw new TokenizerLoadException($"{directory}: cannot build a BPE tokenizer ({e.Message})");
        }

        var config = TryReadJson(Path.Combine(directory, "config.json"));
        var tokenNames = TryReadJson(Path.Combine(directory, "special_tokens_map.json")) ?? TryReadJson(Path.Combine(directory, "tokenizer_config.json"));
        int SpecialId(string key, params string[] fallbacks)
        {
            if (config?[key + "_token_id"] is JsonValue v && v.TryGetValue(out int id)) return id;
            var named = tokenNames?[key + "_token"];
            string? name = named is JsonObject o ? o["content"]?.GetValue<string>() : (named as JsonValue)?.GetValue<string>();
            foreach (var candidate in name is null ? fallbacks : fallbacks.Prepend(name))
                if (vocab.TryGetValue(candidate, out id)) return id;
            throw new TokenizerLoadException($"{directory}: cannot tell the {key} token id (no {key}_token_id in config.json, none of {string.Join(", ", fallbacks)} in vocab.json)");
        }
        int bos = SpecialId("bos", "<s>", "<|endoftext|>");
        int eos = SpecialId("eos", "</s>", "<|endoftext|>");
        int pad = SpecialId("pad", "<pad>", "<|endoftext|>");
        int vocabSize = vocab.Values.Max() + 1;
        return new BpeTextTokenizer(inner, "hf-bpe", vocabSize, bos, eos, pad, dir =>
        {
            foreach (var source in sources) CopyIfElsewhere(source, Path.Combine(dir, Path.GetFileName(source)));
            WriteDescriptor(dir, new JsonObject
            {
                ["type"] = "hf-bpe", ["bos_token_id"] = bos, ["eos_token_id"] = eos, ["pad_token_id"] = pad,
            });
        });
    }

    /// <summary>
    /// Vocabulary (added tokens included) and merges of a Hugging Face <c>tokenizer.json</c> whose model is
    /// byte-level BPE; merges may be "left right" strings or [left, right] pairs (newer files).
    /// </summary>
    private static (Dictionary<string, int> Vocab, List<string> Merges) ReadTokenizerJson(string path)
    {
        var json = ReadJson(path);
        var model = json["model"] as JsonObject ?? throw new TokenizerLoadException($"{path}: no \"model\" object");
        string type = (model["type"] as JsonValue)?.GetValue<string>() ?? (model["merges"] is not null ? "BPE" : "unknown");
        if (type != "BPE") throw new TokenizerLoadException($"{path}: model type {type} is not supported (only byte-level BPE, as GPT-2/OPT/RoBERTa ship)");
        try
        {
            var vocab = (model["vocab"] as JsonObject ?? throw new TokenizerLoadException($"{path}: model has no \"vocab\" object"))
                .ToDictionary(kv => kv.Key, kv => kv.Value!.GetValue<int>());
            var merges = (model["merges"] as JsonArray ?? throw new TokenizerLoadException($"{path}: model has no \"merges\" list"))
                .Select(m => m is JsonArray pair ? string.Join(' ', pair.Select(x => x!.GetValue<string>())) : m!.GetValue<string>()).ToList();
            if (json["added_tokens"] is JsonArray added)
                foreach (var token in added.OfType<JsonObject>())
                    vocab[token["content"]!.GetValue<string>()] = token["id"]!.GetValue<int>();
            return (vocab, merges);
        }
        catch (Exception e) when (e is InvalidOperationException or FormatException or NullReferenceException)
        {
            throw new TokenizerLoadException($"{path}: malformed BPE model ({e.Message})");
        }
    }

    /// <summary>A compact tokenizer from its ordinary tokens; pad, bos, eos follow them.</summary>
    public static ITextTokenizer CreateCompact(IReadOnlyList<byte[]> tokens)
    {
        int n = tokens.Count;
        var specials = new Dictionary<string, int>
        {
            [CompactVocabulary.PadToken] = n, [CompactVocabulary.BosToken] = n + 1, [CompactVocabulary.EosToken] = n + 2,
        };
        using var file = new MemoryStream();
        CompactVocabulary.Write(tokens, file);
        file.Position = 0;
        // Special tokens are given to the tokenizer (so it can decode them) but not to the pre-tokenizer:
        // text that looks like "<|eos|>" is encoded literally, keeping every text round-trippable.
        var inner = TiktokenTokenizer.Create(file, new RegexPreTokenizer(Gpt2PreTokenizerPattern, null), null, specials);
        return new BpeTextTokenizer(inner, "compact", n + CompactVocabulary.SpecialCount, bosId: n + 1, eosId: n + 2, padId: n, dir =>
        {
            using (var output = File.Create(Path.Combine(dir, CompactVocabFile))) CompactVocabulary.Write(tokens, output);
            WriteDescriptor(dir, new JsonObject
            {
                ["type"] = "tiktoken", ["vocab_file"] = CompactVocabFile, ["pre_tokenizer"] = "gpt2",
                ["special_tokens"] = new JsonObject(specials.Select(kv => KeyValuePair.Create(kv.Key, (JsonNode?)kv.Value))),
            });
        });
    }

    private static ITextTokenizer CreateGpt2()
    {
        var inner = TiktokenTokenizer.CreateForModel("gpt2");
        int endOfText = inner.SpecialTokens!["<|endoftext|>"];
        return new BpeTextTokenizer(inner, "gpt2", endOfText + 1, endOfText, endOfText, endOfText,
            dir => WriteDescriptor(dir, new JsonObject { ["type"] = "gpt2" }));
    }

    private static List<byte[]> ReadCompactFile(string path)
    {
        if (!File.Exists(path)) throw new TokenizerLoadException($"{path}: missing");
        try
        {
            using var stream = BoundedFile.Open(path, BoundedFile.TokenizerBytes);
            return CompactVocabulary.Read(stream, path);
        }
        catch (InvalidDataException e) { throw new TokenizerLoadException(e.Message); }
    }

    private static void WriteDescriptor(string directory, JsonObject json) =>
        File.WriteAllText(Path.Combine(directory, DescriptorFile), json.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n");

    private static void CopyIfElsewhere(string from, string to)
    {
        if (Path.GetFullPath(from) != Path.GetFullPath(to)) File.Copy(from, to, overwrite: true);
    }

    private static JsonNode ReadJson(string path) =>
        TryReadJson(path) ?? throw new TokenizerLoadException($"{path}: missing");

    private static JsonNode? TryReadJson(string path)
    {
        if (!File.Exists(path)) return null;
        try { return JsonNode.Parse(BoundedFile.ReadAllText(path, BoundedFile.TokenizerBytes)) ?? throw new JsonException("null document"); }
        catch (JsonException e) { throw new TokenizerLoadException($"{path}: invalid JSON ({e.Message})"); }
        catch (InvalidDataException e) { throw new TokenizerLoadException(e.Message); }
    }
}

/// <summary>A tokenizer could not be loaded; the message says which file and why.</summary>
public sealed class TokenizerLoadException(string message) : Exception(message);
