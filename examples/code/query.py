"""Ask the deployed flower classifier about two colours, and say how to reach it."""
import json
import sys
import urllib.request


def args():
    return dict(a[2:].split("=", 1) for a in sys.argv[1:] if a.startswith("--") and "=" in a)


def ask(address, rgb):
    req = urllib.request.Request(address, data=json.dumps({"rgb": rgb}).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.load(r)


def main():
    a = args()
    address = a["address"]
    for rgb in ([210, 45, 70], [225, 185, 50]):
        print(f"{rgb} -> {ask(address, rgb)['label']}")
    print(f"the service answers at {address}:")
    print(f"  curl -s -X POST {address} -H 'Content-Type: application/json' -d '{{\"rgb\": [200, 40, 60]}}'")
    print(f"  wf service predict {a['service']} --data '{{\"rgb\": [200, 40, 60]}}'")
    print(f"stop it with: wf service stop {a['service']}")


if __name__ == "__main__":
    main()
