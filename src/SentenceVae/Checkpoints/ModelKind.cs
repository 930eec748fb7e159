using System.Text.Json;
using System.Text.Json.Serialization;

namespace SentenceVae.Checkpoints;

/// <summary>
/// Which kind of model a directory holds, read once from its config.json (<see cref="ModelDirectory.Kind(string)"/>).
/// Spelled everywhere as the config's <c>model_type</c> (<see cref="ModelKinds.ModelType"/>): in JSON, in
/// messages, in the server's model list.
/// </summary>
[JsonConverter(typeof(ModelKindJson))]
public enum ModelKind
{
    /// <summary>A token-level OPT model (Hugging Face layout; model_type <c>opt</c>).</summary>
    TokenModel,
    /// <summary>A sentence-level LLM (model_type <c>sentence_llm</c>).</summary>
    SentenceLlm,
    /// <summary>A SentenceVAE alone (model_type <c>sentence_vae</c>).</summary>
    SentenceVae,
}

/// <summary>The one spelling of each <see cref="ModelKind"/>.</summary>
public static class ModelKinds
{
    /// <summary>The config's <c>model_type</c>: <c>opt</c>, <c>sentence_llm</c> or <c>sentence_vae</c>.</summary>
    public static string ModelType(this ModelKind kind) => kind switch
    {
        ModelKind.TokenModel => "opt",
        ModelKind.SentenceLlm => "sentence_llm",
        ModelKind.SentenceVae => "sentence_vae",
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, null),
    };

    /// <summary>The kind a <c>model_type</c> names; null for any other.</summary>
    public static ModelKind? Parse(string? modelType) =>
        Enum.GetValues<ModelKind>().Cast<ModelKind?>().FirstOrDefault(k => k!.Value.ModelType() == modelType);

    /// <summary>Each kind's model_type, for messages ("opt, sentence_llm or sentence_vae").</summary>
    public static string Spellings(params ModelKind[] kinds) =>
        kinds.Length == 1 ? kinds[0].ModelType() : string.Join(", ", kinds[..^1].Select(k => k.ModelType())) + " or " + kinds[^1].ModelType();

    /// <summary>True for the kinds that generate text (a token model, a sentence-level LLM).</summary>
    public static bool Generates(this ModelKind kind) => kind is ModelKind.TokenModel or ModelKind.SentenceLlm;
}

/// <summary>Reads and writes a <see cref="ModelKind"/> as its model_type.</summary>
internal sealed class ModelKindJson : JsonConverter<ModelKind>
{
    public override ModelKind Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
        ModelKinds.Parse(reader.GetString()) ?? throw new JsonException($"'{reader.GetString()}' is not a model kind (expected {ModelKinds.Spellings(Enum.GetValues<ModelKind>())})");

    public override void Write(Utf8JsonWriter writer, ModelKind value, JsonSerializerOptions options) => writer.WriteStringValue(value.ModelType());
}
