namespace SentenceVae.Checkpoints;

/// <summary>A checkpoint could not be read or does not fit the model; the message lists every problem found.</summary>
public sealed class CheckpointException(string message) : IOException(message);
