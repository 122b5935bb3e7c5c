"""Synthetic audience: who watches what, on which device and network.

The catalogue below is the population the generator draws sessions from. It is
deliberately skewed the way real traffic is: a few CDNs and devices carry most
sessions, newer player versions are more common than old ones, asset
popularity follows a Zipf law, and some devices and networks are slower than
others (which later raises their exits before video start and rebuffering).

Every draw is vectorised: :func:`draw_sessions` returns one numpy array per
attribute, holding small integer codes into the value lists of
:data:`CATALOGUE`.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Device:
    name: str
    weight: float
    os: tuple[str, ...]            # os values, drawn uniformly
    versions: tuple[str, ...]      # oldest first; newer ones are more common
    slowness: float                # multiplies startup and stall durations
    max_rung: int                  # highest bitrate ladder rung it reaches
    mobile: bool                   # mobile devices deliver late batches more often


@dataclass(frozen=True)
class Country:
    name: str
    weight: float
    isps: tuple[tuple[str, float], ...]   # (isp, network slowness); first is most common


DEVICES: tuple[Device, ...] = (
    Device("roku", 0.17, ("rokuos",), ("5.0", "5.1", "5.2", "5.3"), 1.30, 5, False),
    Device("firetv", 0.10, ("fireos",), ("3.8", "3.9", "4.0"), 1.20, 5, False),
    Device("appletv", 0.06, ("tvos",), ("7.1", "7.2"), 0.85, 6, False),
    Device("android_tv", 0.06, ("androidtv",), ("3.8", "3.9", "4.0"), 1.35, 5, False),
    Device("smart_tv", 0.08, ("tizen", "webos"), ("2.2", "2.3", "2.4"), 1.50, 5, False),
    Device("ios", 0.17, ("ios",), ("7.0", "7.1", "7.2"), 0.90, 4, True),
    Device("android", 0.18, ("android",), ("3.7", "3.8", "3.9", "4.0"), 1.25, 4, True),
    Device("web", 0.18, ("windows", "macos", "chromeos"), ("8.4", "8.5", "8.6"), 1.00, 6, False),
)

COUNTRIES: tuple[Country, ...] = (
    Country("us", 0.50, (("comcast", 0.9), ("charter", 1.0), ("verizon", 0.9), ("att", 1.1), ("tmobile", 1.3))),
    Country("gb", 0.10, (("bt", 1.0), ("sky", 0.95), ("virgin", 1.0))),
    Country("de", 0.08, (("telekom", 0.95), ("vodafone", 1.05), ("o2", 1.2))),
    Country("br", 0.08, (("claro", 1.4), ("vivo", 1.5), ("oi", 1.7))),
    Country("in", 0.08, (("jio", 1.6), ("airtel", 1.5), ("bsnl", 1.9))),
    Country("ca", 0.06, (("rogers", 1.0), ("bell", 1.0), ("telus", 1.05))),
    Country("fr", 0.05, (("orange", 0.95), ("free", 1.0), ("sfr", 1.1))),
    Country("jp", 0.05, (("ntt", 0.85), ("kddi", 0.9), ("softbank", 0.95))),
)

CDNS: tuple[tuple[str, float, float], ...] = (   # (name, share, start-failure factor)
    ("akamai", 0.45, 1.0), ("fastly", 0.30, 0.9), ("cloudfront", 0.20, 1.1), ("edgio", 0.05, 1.8),
)

LIVE_CHANNELS = 40
VOD_TITLES = 4000
LIVE_SHARE = 0.25
ZIPF_EXPONENT = 1.1
BITRATE_LADDER_KBPS = np.array([400, 800, 1500, 2500, 4000, 6000, 8000], dtype=np.int64)


def _version_weights(n: int) -> np.ndarray:
    """Newer versions are more common: each is about twice as common as the one before."""
    w = 2.0 ** np.arange(n)
    return w / w.sum()


def _zipf_cdf(n: int) -> np.ndarray:
    w = 1.0 / np.arange(1, n + 1) ** ZIPF_EXPONENT
    return np.cumsum(w) / w.sum()


def _pick(rng: np.random.Generator, weights, n: int) -> np.ndarray:
    cdf = np.cumsum(np.asarray(weights, dtype=float))
    cdf /= cdf[-1]
    return np.minimum(np.searchsorted(cdf, rng.random(n), side="right"), len(cdf) - 1)


def _flat_values() -> dict[str, list[str]]:
    """The value list of every dimension; codes drawn below index into these."""
    os_values = sorted({o for d in DEVICES for o in d.os})
    versions = sorted({v for d in DEVICES for v in d.versions})
    isps = [isp for c in COUNTRIES for isp, _ in c.isps]
    assets = [f"live-{i:03d}" for i in range(1, LIVE_CHANNELS + 1)] + \
             [f"vod-{i:05d}" for i in range(1, VOD_TITLES + 1)]
    return {
        "cdn": [c[0] for c in CDNS],
        "device": [d.name for d in DEVICES],
        "os": os_values,
        "player_version": versions,
        "country": [c.name for c in COUNTRIES],
        "isp": isps,
        "asset_id": assets,
        "content_type": ["live", "vod"],
    }


VALUES: dict[str, list[str]] = _flat_values()
DIMENSIONS: tuple[str, ...] = tuple(VALUES)


@dataclass(frozen=True)
class Sessions:
    """Attributes of a block of sessions; dimension arrays hold codes into VALUES."""
    dims: dict[str, np.ndarray]
    slowness: np.ndarray        # >0, 1.0 = typical; device x network x noise
    cdn_failure: np.ndarray     # start-failure multiplier of the CDN
    max_rung: np.ndarray        # highest bitrate rung the device reaches
    mobile: np.ndarray          # bool
    live: np.ndarray            # bool

    def __len__(self) -> int:
        return len(self.slowness)


_OS_INDEX = {v: i for i, v in enumerate(VALUES["os"])}
_VERSION_INDEX = {v: i for i, v in enumerate(VALUES["player_version"])}
_ASSET_LIVE_CDF = _zipf_cdf(LIVE_CHANNELS)
_ASSET_VOD_CDF = _zipf_cdf(VOD_TITLES)


def draw_sessions(rng: np.random.Generator, n: int) -> Sessions:
    """Draw ``n`` sessions' attributes from the catalogue."""
    device = _pick(rng, [d.weight for d in DEVICES], n)
    os_code = np.empty(n, dtype=np.int64)
    version = np.empty(n, dtype=np.int64)
    u_os, u_ver = rng.random(n), rng.random(n)
    for i, d in enumerate(DEVICES):
        m = device == i
        os_pick = np.minimum((u_os[m] * len(d.os)).astype(np.int64), len(d.os) - 1)
        os_code[m] = np.array([_OS_INDEX[o] for o in d.os])[os_pick]
        cdf = np.cumsum(_version_weights(len(d.versions)))
        ver_pick = np.minimum(np.searchsorted(cdf, u_ver[m], side="right"), len(d.versions) - 1)
        version[m] = np.array([_VERSION_INDEX[v] for v in d.versions])[ver_pick]

    country = _pick(rng, [c.weight for c in COUNTRIES], n)
    isp = np.empty(n, dtype=np.int64)
    net_slow = np.empty(n, dtype=float)
    u_isp = rng.random(n)
    offset = 0
    for i, c in enumerate(COUNTRIES):
        m = country == i
        cdf = _zipf_cdf(len(c.isps))
        pick = np.minimum(np.searchsorted(cdf, u_isp[m], side="right"), len(c.isps) - 1)
        isp[m] = offset + pick
        net_slow[m] = np.array([s for _, s in c.isps])[pick]
        offset += len(c.isps)

    cdn = _pick(rng, [c[1] for c in CDNS], n)
    live = rng.random(n) < LIVE_SHARE
    u_asset = rng.random(n)
    asset = np.where(
        live,
        np.minimum(np.searchsorted(_ASSET_LIVE_CDF, u_asset, side="right"), LIVE_CHANNELS - 1),
        LIVE_CHANNELS + np.minimum(np.searchsorted(_ASSET_VOD_CDF, u_asset, side="right"), VOD_TITLES - 1),
    )
    dev_slow = np.array([d.slowness for d in DEVICES])[device]
    slowness = dev_slow * net_slow * rng.lognormal(0.0, 0.25, n)
    return Sessions(
        dims={
            "cdn": cdn, "device": device, "os": os_code, "player_version": version,
            "country": country, "isp": isp, "asset_id": asset,
            "content_type": np.where(live, 0, 1),
        },
        slowness=slowness,
        cdn_failure=np.array([c[2] for c in CDNS])[cdn],
        max_rung=np.array([d.max_rung for d in DEVICES])[device],
        mobile=np.array([d.mobile for d in DEVICES])[device],
        live=live,
    )
