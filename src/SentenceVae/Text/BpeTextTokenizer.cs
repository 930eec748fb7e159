using Microsoft.ML.Tokenizers;

namespace SentenceVae.Text;

/// <summary>A byte-level BPE tokenizer of Microsoft.ML.Tokenizers with the special ids and files of one of our tokenizer kinds.</summary>
internal sealed class BpeTextTokenizer : ITextTokenizer
{
    private readonly Tokenizer inner;
    private readonly Action<string> save;

    public BpeTextTokenizer(Tokenizer inner, string kind, int vocabSize, int bosId, int eosId, int padId, Action<string> save)
    {
        foreach (var (name, id) in new[] { ("bos", bosId), ("eos", eosId), ("pad", padId) })
            if (id < 0 || id >= vocabSize) throw new InvalidDataException($"{kind} tokenizer: {name} id {id} is outside the vocabulary [0, {vocabSize}).");
        this.inner = inner;
        this.save = save;
        Kind = kind;
        VocabSize = vocabSize;
        BosId = bosId;
        EosId = eosId;
        PadId = padId;
    }

    public string Kind { get; }
    public int VocabSize { get; }
    public int BosId { get; }
    public int EosId { get; }
    public int PadId { get; }

    public IReadOnlyList<int> Encode(string text) => inner.EncodeToIds(text, considerPreTokenization: true, considerNormalization: true);

    public string Decode(IEnumerable<int> ids) => inner.Decode(ids.Where(id => id != BosId && id != EosId && id != PadId));

    public int CountTokens(string text) => inner.CountTokens(text);

    public void Save(string directory)
    {
        Directory.CreateDirectory(directory);
        save(directory);
    }

    public override string ToString() => $"{Kind} (vocab {VocabSize}, bos {BosId}, eos {EosId}, pad {PadId})";
}
