namespace SentenceVae.Evaluation;

/// <summary>One timing of <see cref="KernelBench"/>: a way of computing a decode-step projection, its time and the bandwidth it reached.</summary>
public sealed record KernelTiming(string Method, int Rows, int Threads, double Ms, double GBPerS, double TimeVsLibtorch);
