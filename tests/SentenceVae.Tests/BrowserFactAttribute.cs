namespace SentenceVae.Tests;

/// <summary>
/// A test that drives Debian's headless Chromium. On a machine without /usr/bin/chromium and
/// /usr/bin/chromedriver it is reported as skipped, with how to install them; with
/// SVAE_REQUIRE_BROWSER=1 (set by .ci/run, which installs them) it always runs, so CI fails when the
/// browser is missing instead of skipping.
/// </summary>
public sealed class BrowserFactAttribute : FactAttribute
{
    public const string Driver = "/usr/bin/chromedriver", Browser = "/usr/bin/chromium";

    public BrowserFactAttribute()
    {
        if (Environment.GetEnvironmentVariable("SVAE_REQUIRE_BROWSER") != "1" && !(File.Exists(Driver) && File.Exists(Browser)))
            Skip = $"needs {Browser} and {Driver} (apt-get install chromium chromium-driver); .ci/run installs them and requires this test";
    }
}
