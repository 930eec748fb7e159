namespace SentenceVae.Serving;

/// <summary>What went wrong with a request to the <see cref="GenerationService"/> (the server maps each to an HTTP status).</summary>
public enum ServingError
{
    /// <summary>The request cannot be served as given (bad option, prompt too long); HTTP 400.</summary>
    InvalidRequest,
    /// <summary>No model of that name is served; HTTP 404.</summary>
    ModelNotFound,
    /// <summary>The queue is full; try again later; HTTP 503.</summary>
    Busy,
    /// <summary>The model failed on this request alone (e.g. its probabilities were not finite); HTTP 500, the other requests go on.</summary>
    ModelFault,
}

/// <summary>A request the service refuses, with the option at fault (<see cref="Param"/>) and a machine-readable <see cref="Code"/>.</summary>
public sealed class ServingException(ServingError error, string message, string? param = null, string? code = null) : Exception(message)
{
    /// <summary>The kind of failure.</summary>
    public ServingError Error { get; } = error;
    /// <summary>The request field at fault, as named in OpenAI's API (e.g. <c>max_tokens</c>), or null.</summary>
    public string? Param { get; } = param;
    /// <summary>A short code such as <c>context_length_exceeded</c>, or null.</summary>
    public string? Code { get; } = code;

    internal static ServingException Invalid(string message, string? param, string? code = null) => new(ServingError.InvalidRequest, message, param, code);

    /// <summary>
    /// What a client sent, as it may be echoed in a message or a log line: at most <paramref name="max"/>
    /// characters (a longer value is cut and marked), so no request can make an answer or the log large.
    /// </summary>
    public static string Echo(string value, int max = 64) => value.Length <= max ? value : string.Concat(value.AsSpan(0, max), $"… ({value.Length} characters)");
}
