namespace SentenceVae.Inference;

/// <summary>
/// What a generating row keeps in view when its text outgrows the context the model was trained on
/// (<see cref="Modules.OptConfig.Context"/> tokens, <see cref="Modules.SentenceLlmConfig.Context"/> pieces):
/// once the view would hold more than <see cref="Context"/> units, it restarts from the most recent
/// <see cref="Keep"/> (half a context) and is re-prefilled — the same half-window stride the evaluators
/// score with, so generation never steps onto positions that training never reached. Each row decides
/// from its own length alone, so a row writes the same text alone or batched.
/// </summary>
public readonly record struct ContextWindow(int Context)
{
    /// <summary>Units kept when the view restarts: half a context (at least one).</summary>
    public int Keep => Math.Max(1, Context / 2);

    /// <summary>The first unit in view for a row of <paramref name="length"/> units whose view began at <paramref name="start"/>: unchanged while it fits, else the most recent <see cref="Keep"/>.</summary>
    public int Start(int length, int start = 0) => length - start > Context ? length - Keep : start;
}
