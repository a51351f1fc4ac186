"""The SensorThings API of `twin serve` through the unmodified Python client frost-sta-client
(PyPI): lists the Things, finds a Datastream, follows its Observations with a time filter
through every page, and prints what it saw as one JSON document for the Rust test to check
against the lake.

usage: sta_client.py BASE_URL DATASTREAM_ID FROM TO PAGE_SIZE
"""

import json
import sys

import frost_sta_client as fsc


def main():
    url, ds_id, t_from, t_to, page = sys.argv[1:6]
    service = fsc.SensorThingsService(url)
    things = [t.id for t in service.things().query().top(1000).list()]
    ds = service.datastreams().find(ds_id)
    unit = ds.unit_of_measurement.symbol if ds.unit_of_measurement else None
    query = (
        ds.get_observations()
        .query()
        .filter(f"phenomenonTime ge {t_from} and phenomenonTime lt {t_to}")
        .orderby("phenomenonTime", "asc")
        .top(int(page))
    )
    obs = query.list()
    first_page = len(obs.entities)
    seen = [(o.phenomenon_time, o.result) for o in obs]  # iterating follows @iot.nextLink
    counted = service.observations().query().filter(f"Datastream/id eq '{ds_id}'").count().top(1).list().count
    json.dump(
        {
            "things": things,
            "datastream": ds.id,
            "datastream_name": ds.name,
            "unit": unit,
            "first_page": first_page,
            "observations": seen,
            "count_all": counted,
        },
        sys.stdout,
    )


if __name__ == "__main__":
    main()
