"""The twin's telemetry rules for the peer scripts (telemetry_pandas.py, telemetry_duckdb.py):
the defaults of engine/src/telemetry/qa.rs (plausible ranges, spike jumps and factor, stuck
run) and the Decision 1459/QĐ-TCMT breakpoints of engine/src/telemetry/aqi.rs, in µg/m³ (CO
too) — one copy, so both peers compute with the same numbers."""

RANGES = {
    "PM2.5": (0, 1000), "PM10": (0, 2000), "TSP": (0, 5000), "SO2": (0, 10000), "NO2": (0, 10000),
    "NO": (0, 10000), "CO": (0, 200000), "O3": (0, 2000), "NH3": (0, 5000), "CH4": (0, 100),
    "O2": (0, 25), "CO_mine": (0, 10000), "air_velocity": (0, 30), "dust": (0, 1000),
    "temperature": (-20, 60), "wind_speed": (0, 75), "wind_direction": (0, 360), "pH": (0, 14),
    "DO": (0, 20), "COD": (0, 1000), "BOD5": (0, 1000), "TSS": (0, 5000), "NH4": (0, 100),
    "NH4+": (0, 100), "relative_humidity": (0, 100), "conductivity": (0, 80000), "salinity": (0, 45),
}
JUMPS = {"PM2.5": 50, "PM10": 80, "SO2": 100, "NO2": 100, "CO": 5000, "O3": 100, "CH4": 0.5,
         "CO_mine": 20}
SPIKE_FACTOR, STUCK_RUN = 4.0, 30
INDEX = [0, 50, 100, 150, 200, 300, 400, 500]
BP = {
    "O3": [0, 160, 200, 300, 400, 800, 1000, 1200],
    "CO": [0, 10000, 30000, 45000, 60000, 90000, 120000, 150000],
    "SO2": [0, 125, 350, 550, 800, 1600, 2100, 2630],
    "NO2": [0, 100, 200, 700, 1200, 2350, 3100, 3850],
    "PM10": [0, 50, 150, 250, 350, 420, 500, 600],
    "PM2.5": [0, 25, 50, 80, 150, 250, 350, 500],
}
