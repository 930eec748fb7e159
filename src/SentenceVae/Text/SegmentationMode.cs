namespace SentenceVae.Text;

/// <summary>How <see cref="SentenceSplitter"/> cuts text into pieces.</summary>
public enum SegmentationMode
{
    /// <summary>
    /// The default. Concatenating the pieces gives back the input exactly. Cuts after sentence and
    /// clause punctuation and line breaks, but not inside numbers or after common abbreviations;
    /// punctuation runs and closing quotes stay with their piece; no piece is punctuation only;
    /// pieces over the token budget are split at whitespace.
    /// </summary>
    Lossless,

    /// <summary>
    /// The paper's reference cutter, quirks included: cuts after every <c>, . ! ? ; : "</c> and line
    /// break (and a few two-character pairs), splits <c>3.50</c>, and drops text after the last cut.
    /// </summary>
    Reference,
}
