using SentenceVae.Text;

namespace SentenceVae.Inference;

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
