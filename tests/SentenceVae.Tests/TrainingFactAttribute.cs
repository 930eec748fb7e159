namespace SentenceVae.Tests;

/// <summary>
/// A test that trains for real (minutes of CPU): skipped unless SVAE_TRAINING_TESTS=1, so the default
/// run stays short. Run them with: SVAE_TRAINING_TESTS=1 dotnet test --filter Category=Training
/// </summary>
public sealed class TrainingFactAttribute : FactAttribute
{
    public TrainingFactAttribute()
    {
        if (Environment.GetEnvironmentVariable("SVAE_TRAINING_TESTS") != "1")
            Skip = "trains for minutes; run with SVAE_TRAINING_TESTS=1 dotnet test --filter Category=Training";
    }
}
