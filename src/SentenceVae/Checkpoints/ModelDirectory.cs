using System.Text.Json.Nodes;

namespace SentenceVae.Checkpoints;

/// <summary>What a model directory holds, read from its config.json before any weight is loaded.</summary>
public static class ModelDirectory
{
    /// <inheritdoc cref="BoundedFile.CheckDirectory"/>
    public static void Check(string directory) => BoundedFile.CheckDirectory(directory);

    /// <summary>
    /// Checks the directory and that it holds a model of <paramref name="kind"/> (a config without a known
    /// model_type passes: the loader's validation names it); a model of another kind is one line saying what
    /// it is and which commands take it.
    /// </summary>
    public static void Expect(string directory, ModelKind kind)
    {
        Check(directory);
        if (!File.Exists(Path.Combine(directory, "config.json"))) return;      // the loader names the missing file
        if (ModelKinds.Parse(ModelType(directory)) is { } found && found != kind)
            throw new InvalidDataException($"{directory} holds {Describe(found)}, not {Describe(kind)}");
    }

    private static string Describe(ModelKind kind) => kind switch
    {
        ModelKind.TokenModel => "a token-level model (model_type 'opt'; svae lm generate, svae eval lm)",
        ModelKind.SentenceLlm => "a sentence-level LLM (model_type 'sentence_llm'; svae generate, svae eval sllm)",
        _ => "a SentenceVAE (model_type 'sentence_vae'; svae vae reconstruct|encode, svae eval vae)",
    };

    /// <summary><see cref="Expect"/>, then <paramref name="load"/>.</summary>
    public static T ExpectThen<T>(string directory, ModelKind kind, Func<T> load)
    {
        Expect(directory, kind);
        return load();
    }

    /// <summary><see cref="Check"/>, then <paramref name="load"/>.</summary>
    public static T CheckThen<T>(string directory, Func<T> load)
    {
        Check(directory);
        return load();
    }

    /// <summary>
    /// The kind of model the directory holds, from its config's <c>model_type</c>; one line naming the file
    /// when the directory or its config is missing or unreadable, or the model_type is none of ours.
    /// </summary>
    public static ModelKind Kind(string directory) =>
        ModelKinds.Parse(ModelType(directory)) is { } kind ? kind
            : throw new InvalidDataException($"{Path.Combine(directory, "config.json")}: model_type '{ModelType(directory)}' is not a model this library reads (expected {ModelKinds.Spellings(Enum.GetValues<ModelKind>())})");

    /// <summary><see cref="Kind(string)"/>, checked to be one of <paramref name="allowed"/>: otherwise one line saying what <paramref name="use"/> takes.</summary>
    public static ModelKind Kind(string directory, string use, params ModelKind[] allowed)
    {
        var kind = Kind(directory);
        return allowed.Contains(kind) ? kind
            : throw new InvalidDataException($"{directory}: model_type '{kind.ModelType()}' cannot be {use} (expected {ModelKinds.Spellings(allowed)})");
    }

    // The config's model_type as written ("" when absent).
    private static string ModelType(string directory)
    {
        string configPath = Path.Combine(directory, "config.json");
        Check(directory);
        if (!File.Exists(configPath)) throw new FileNotFoundException($"{configPath}: no such file (a model directory holds config.json)", configPath);
        try { return (JsonNode.Parse(BoundedFile.ReadAllText(configPath, BoundedFile.ConfigBytes))?["model_type"] as JsonValue)?.GetValue<string>() ?? ""; }
        catch (Exception e) when (e is System.Text.Json.JsonException or InvalidOperationException) { throw new InvalidDataException($"{configPath}: invalid JSON ({e.Message.Split('\n')[0]})"); }
    }
}
